"""Embedding throughput: the full pipeline (read, embed, write) against a bare `encode` in the same run.

    python -m bench.embed [--repeat N] [--file PATH]

Each phase runs in its own process so its peak RSS is its own. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.embeddings.pipeline import EMBED_BATCH
from bench.report import SHARED_DATA, machine_facts, write_section

DEFAULT_FILE = SHARED_DATA / "wikipedia-movies" / "movies-2010s.json"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_encode(path: Path) -> dict[str, float]:
    """Bare SentenceTransformer.encode over the recipe texts, nothing else timed."""
    from app.catalogue.importers.records import MovieRecord
    from app.catalogue.importers.wikipedia import read_wikipedia
    from app.embeddings.model import SentenceTransformerEmbedder
    from app.embeddings.text import embedding_text

    texts = [embedding_text(r.content) for _, r in read_wikipedia(path) if isinstance(r, MovieRecord)]
    model = SentenceTransformerEmbedder("all-MiniLM-L6-v2", device="cpu", batch_size=64)
    model.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    model.encode(texts)
    seconds = time.perf_counter() - started
    return {"movies": len(texts), "seconds": seconds, "rate": len(texts) / seconds, "peak_rss_mib": _peak_rss_mib()}


async def _pipeline(path: Path, batch: int) -> dict[str, float]:
    from app.catalogue.importers.pipeline import import_movies
    from app.catalogue.importers.wikipedia import read_wikipedia
    from app.db.connections import connect, ensure_database, init_connection, start_embedded_server, with_database
    from app.db.migrate import migrate
    from app.embeddings.model import SentenceTransformerEmbedder
    from app.embeddings.pipeline import embed_movies

    with tempfile.TemporaryDirectory(prefix="bench-embed-") as folder:
        server = start_embedded_server(Path(folder) / "pg", keep_running=False)
        await ensure_database(server, "bench")
        conn = await connect(with_database(server, "bench"), vector=False)
        await migrate(conn, 384)
        await init_connection(conn)  # the vector codec, now that the extension exists
        await import_movies(conn, read_wikipedia(path), "source_key")
        model = SentenceTransformerEmbedder("all-MiniLM-L6-v2", device="cpu", batch_size=64)
        model.encode(["warm-up"] * 64)
        result = await embed_movies(conn, model, batch_size=batch)
        await conn.close()
    return {
        "movies": result.embedded,
        "seconds": result.seconds,
        "rate": result.rate,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _run_phase(phase: str, path: Path, batch: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.embed", "--phase", phase, "--file", str(path), "--batch", str(batch)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _row(label: str, run: dict[str, float]) -> str:
    return f"| {label} | {int(run['movies'])} | {run['seconds']:.1f} | {run['rate']:.1f} | {run['peak_rss_mib']:.0f} |"


def _rates(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['rate']:.1f}" for r in runs)


def main() -> None:
    """Run both phases `repeat` times, alternating, and report the best of each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["encode", "pipeline"])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batch", type=int, default=EMBED_BATCH, help="movies per pipeline batch")
    args = parser.parse_args()
    if args.phase == "encode":
        print(json.dumps(phase_encode(args.file)))
        return
    if args.phase == "pipeline":
        print(json.dumps(asyncio.run(_pipeline(args.file, args.batch))))
        return
    if not args.file.exists():
        sys.exit(f"skipped: {args.file} not found (the benchmark reads ../shared/data)")
    runs: dict[str, list[dict[str, float]]] = {"encode": [], "pipeline": []}
    for _ in range(args.repeat):
        for phase in ("encode", "pipeline"):
            runs[phase].append(_run_phase(phase, args.file, args.batch))
            print(phase, runs[phase][-1], flush=True)
    best = {phase: max(results, key=lambda r: r["rate"]) for phase, results in runs.items()}
    ratio = best["pipeline"]["rate"] / best["encode"]["rate"]
    body = "\n".join(
        [
            "## Embedding pipeline (`make bench`, bench/embed.py)",
            "",
            machine_facts(),
            f"Input: `{args.file.name}` ({int(best['encode']['movies'])} movies), all-MiniLM-L6-v2 on the CPU, "
            f"model batch 64, pipeline batches of {args.batch} committed one at a time. Best of {args.repeat} "
            "alternating runs per phase, each phase in its own process (peak RSS is that process's).",
            "",
            "| phase | movies | seconds | movies/s | peak RSS (MiB) |",
            "|---|---:|---:|---:|---:|",
            _row("bare `encode` (baseline)", best["encode"]),
            _row("pipeline: read, embed, COPY, UPDATE", best["pipeline"]),
            "",
            f"Pipeline / bare encode: **{ratio:.2f}x** (target: at least 0.90x).",
            "All runs (movies/s): encode " + _rates(runs["encode"]) + "; pipeline " + _rates(runs["pipeline"]) + ".",
        ]
    )
    write_section("embed", body)
    print(body)


if __name__ == "__main__":
    main()
