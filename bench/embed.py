"""Embedding throughput per encoder (PyTorch, ONNX Runtime, its two int8 forms): the full pipeline (read,
embed, write) against a bare `encode` in the same run, how long one search text takes to encode as the
API encodes it, and how far the ONNX vectors agree with PyTorch's.

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
ENCODERS = ("torch", "onnx", "onnx-q8", "onnx-int8")
EXPORTS = Path(__file__).resolve().parents[1] / ".movierec-bench"  # where the ONNX export is cached


def _embedder(encoder: str, *, query: bool = False) -> object:
    from app.embeddings.encoders import query_settings
    from app.embeddings.model import load_embedder
    from app.settings import Settings

    settings = Settings(encoder=encoder, data_dir=EXPORTS)  # type: ignore[arg-type]
    return load_embedder(query_settings(settings) if query else settings)


def _texts(path: Path) -> list[str]:
    from app.catalogue.importers.records import MovieRecord
    from app.catalogue.importers.wikipedia import read_wikipedia
    from app.embeddings.text import embedding_text

    return [embedding_text(r.content) for _, r in read_wikipedia(path) if isinstance(r, MovieRecord)]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_encode(path: Path, encoder: str) -> dict[str, float]:
    """Bare `encode` over the recipe texts with one encoder, nothing else timed."""
    texts = _texts(path)
    model = _embedder(encoder)
    model.encode(texts[:64])  # type: ignore[attr-defined]  # warm-up
    started = time.perf_counter()
    model.encode(texts)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    return {"movies": len(texts), "seconds": seconds, "rate": len(texts) / seconds, "peak_rss_mib": _peak_rss_mib()}


def phase_query(encoder: str) -> dict[str, float]:
    """One search text at a time, as the API encodes it (its query threads): the labelled queries, 5 times."""
    import numpy as np

    from app.evaluation.search import load_queries

    texts = [query.text for query in load_queries()]
    model = _embedder(encoder, query=True)
    for text in texts[:10]:
        model.encode([text])  # type: ignore[attr-defined]  # warm-up
    times = []
    for _ in range(5):
        for text in texts:
            started = time.perf_counter()
            model.encode([text])  # type: ignore[attr-defined]
            times.append(time.perf_counter() - started)
    return {"p50_ms": float(np.median(times)) * 1e3, "p95_ms": float(np.percentile(times, 95)) * 1e3}


def phase_overlap(path: Path) -> dict[str, float]:
    """Top-10 neighbour overlap of ONNX (and int8) vectors with PyTorch's over 1,000 films."""
    import random

    from app.vectors import neighbour_overlap

    texts = random.Random(1).sample(_texts(path), 1000)
    vectors = {encoder: _embedder(encoder).encode(texts) for encoder in ENCODERS}  # type: ignore[attr-defined]

    return {encoder: neighbour_overlap(vectors["torch"], vectors[encoder]) for encoder in ENCODERS[1:]}


async def _pipeline(path: Path, batch: int, encoder: str) -> dict[str, float]:
    from app.catalogue.importers.pipeline import import_movies
    from app.catalogue.importers.wikipedia import read_wikipedia
    from app.db.connections import connect, ensure_database, init_connection, start_embedded_server, with_database
    from app.db.migrate import migrate
    from app.embeddings.pipeline import embed_movies

    with tempfile.TemporaryDirectory(prefix="bench-embed-") as folder:
        server = start_embedded_server(Path(folder) / "pg", keep_running=False)
        await ensure_database(server, "bench")
        conn = await connect(with_database(server, "bench"), vector=False)
        await migrate(conn, 384)
        await init_connection(conn)  # the vector codec, now that the extension exists
        await import_movies(conn, read_wikipedia(path), "source_key")
        model = _embedder(encoder)
        model.encode(["warm-up"] * 64)  # type: ignore[attr-defined]
        result = await embed_movies(conn, model, batch_size=batch)  # type: ignore[arg-type]
        await conn.close()
    return {
        "movies": result.embedded,
        "seconds": result.seconds,
        "rate": result.rate,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _run_phase(phase: str, path: Path, batch: int, encoder: str = "torch") -> dict[str, float]:
    command = [sys.executable, "-m", "bench.embed", "--phase", phase, "--file", str(path), "--batch", str(batch)]
    out = subprocess.run([*command, "--encoder", encoder], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _row(label: str, run: dict[str, float]) -> str:
    return f"| {label} | {int(run['movies'])} | {run['seconds']:.1f} | {run['rate']:.1f} | {run['peak_rss_mib']:.0f} |"


def main() -> None:
    """Run every phase `repeat` times, alternating, and report the best of each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["encode", "pipeline", "overlap", "query"])
    parser.add_argument("--encoder", choices=ENCODERS, default="torch")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batch", type=int, default=EMBED_BATCH, help="movies per pipeline batch")
    args = parser.parse_args()
    if args.phase == "encode":
        print(json.dumps(phase_encode(args.file, args.encoder)))
        return
    if args.phase == "pipeline":
        print(json.dumps(asyncio.run(_pipeline(args.file, args.batch, args.encoder))))
        return
    if args.phase == "overlap":
        print(json.dumps(phase_overlap(args.file)))
        return
    if args.phase == "query":
        print(json.dumps(phase_query(args.encoder)))
        return
    if not args.file.exists():
        sys.exit(f"skipped: {args.file} not found (the benchmark reads ../shared/data)")
    _run_phase("encode", args.file, args.batch, "onnx")  # exports the ONNX files once, untimed
    phases = [(phase, encoder) for encoder in ENCODERS for phase in ("encode", "pipeline")]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in phases}
    for _ in range(args.repeat):
        for phase, encoder in phases:
            runs[(phase, encoder)].append(_run_phase(phase, args.file, args.batch, encoder))
            print(phase, encoder, runs[(phase, encoder)][-1], flush=True)
    best = {key: max(results, key=lambda r: r["rate"]) for key, results in runs.items()}
    queries: dict[str, list[dict[str, float]]] = {encoder: [] for encoder in ENCODERS}
    for _ in range(args.repeat):
        for encoder in ENCODERS:
            queries[encoder].append(_run_phase("query", args.file, args.batch, encoder))
    query = {encoder: min(results, key=lambda r: r["p50_ms"]) for encoder, results in queries.items()}
    overlap = _run_phase("overlap", SHARED_DATA / "wikipedia-movies" / "movies.json.gz", args.batch)
    torch_pipeline = best[("pipeline", "torch")]["rate"]
    rows = [
        _row(
            f"{phase}, {encoder}" + (" (baseline)" if (phase, encoder) == ("pipeline", "torch") else ""),
            best[(phase, encoder)],
        )
        + f" {best[(phase, encoder)]['rate'] / torch_pipeline:.2f}x |"
        for phase, encoder in phases
    ]
    body = "\n".join(
        [
            "## Embedding pipeline per encoder (`make bench`, bench/embed.py)",
            "",
            machine_facts(),
            f"Input: `{args.file.name}` ({int(best[('encode', 'torch')]['movies'])} movies), all-MiniLM-L6-v2 on the CPU, "
            f"model batch 64 (PyTorch) or 8 (ONNX: its fastest on a CPU), pipeline batches of {args.batch} committed one at a time. Best of {args.repeat} "
            "alternating runs per phase, each in its own process (peak RSS is that process's). ONNX: the model "
            "exported once (`app/embeddings/onnx_export.py`), ONNX Runtime with `tokenizers`, no torch imported.",
            "",
            "| phase, encoder | movies | seconds | movies/s | peak RSS (MiB) | / PyTorch pipeline |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Top-10 neighbour overlap with PyTorch's vectors on 1,000 random films of the full Wikipedia file: "
            f"ONNX **{overlap['onnx']:.3f}**, ONNX int8 in blocks (`onnx-q8`) **{overlap['onnx-q8']:.3f}**, "
            f"ONNX int8 per channel (`onnx-int8`) **{overlap['onnx-int8']:.3f}** (guard: at least 0.95).",
            "",
            "One search text encoded as the API encodes it (one thread, `MOVIEREC_QUERY_THREADS`): the 72 "
            f"labelled search texts, 5 times each, best of {args.repeat} runs, each encoder in its own process. "
            "The API encodes with the encoder of the generation it serves, so this is what changing the encoder "
            "(and re-embedding) changes in a search.",
            "",
            "| encoder | p50 ms | p95 ms | p50 / PyTorch |",
            "|---|---:|---:|---:|",
            *(
                f"| {encoder} | {query[encoder]['p50_ms']:.2f} | {query[encoder]['p95_ms']:.2f} | "
                f"{query[encoder]['p50_ms'] / query['torch']['p50_ms']:.2f}x |"
                for encoder in ENCODERS
            ),
        ]
    )
    write_section("embed", body)
    print(body)


if __name__ == "__main__":
    main()
