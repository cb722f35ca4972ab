"""Search on the full Wikipedia catalogue: quality per mode and query class, latency beside the old
semantic-only path, and the import's cost of matching films across sources.

    python -m bench.search [--data-dir .movierec-bench] [--rounds 3] [--baseline-ref 8c7cd0b] [--skip-import]

Quality: `movierec evaluate-search` (app/evaluation/search.py) on the labelled queries, written to
docs/evaluation.md and docs/search-results.json. Latency: one client, in process, every labelled query
`rounds` times per path, the paths interleaved (their order turned per text): the search service in each mode against the path it
replaced (encode the text, one k-NN statement over the film vectors). Import: the full Wikipedia file
into a fresh database with this code and with the code at `baseline-ref` (a git worktree), same server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from app.db.connections import connect, create_pool, with_database
from app.embeddings.encoders import Encoders, QueryEncoder, query_settings
from app.embeddings.model import load_embedder
from app.evaluation.search import evaluate_search, load_queries, search_table
from app.search.fusion import SearchMode
from app.search.service import Search
from app.search.session import session_settings
from app.search.vectors import VectorSearch
from app.settings import Settings
from bench.catalogue import prepared
from bench.report import ROOT, SHARED_DATA, machine_facts, write_section

EVALUATION = ROOT / "docs" / "evaluation.md"
# The old path with the text encoded as searchMovies encodes it now (one thread, MOVIEREC_QUERY_THREADS).
ONE_THREAD = "semantic-only, encoded on one thread"
RESULTS = ROOT / "docs" / "search-results.json"


async def quality_and_latency(
    settings: Settings, dsn: str, rounds: int
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The evaluation's results, and per-path latencies in ms."""
    # As the API's pool: the search settings on each connection, no reset statement on release.
    pool = await create_pool(
        dsn, min_size=1, max_size=2, server_settings=session_settings(settings), reset_session=False
    )
    # The path before encoded a text with a thread per core; searchMovies as the API does now (one).
    embedder_before = load_embedder(settings)
    # The paths repeat the labelled texts: without the vector cache every search encodes its text,
    # as the path before did.
    settings = query_settings(settings).model_copy(update={"query_cache": 0})
    embedder = load_embedder(settings)
    vectors = VectorSearch(settings, settings_on_connection=True)
    search = Search(pool, settings, vectors, QueryEncoder(pool, Encoders(settings, embedder)))
    try:
        async with pool.acquire() as conn:
            results = await evaluate_search(search, conn)
        texts = [q.text for q in load_queries()]
        times: dict[str, list[float]] = {
            "semantic-only (before)": [],
            ONE_THREAD: [],
            **{f"searchMovies {m.name}": [] for m in SearchMode},
        }

        async def semantic_only(text: str, encoder: Any) -> None:
            vector = (await asyncio.to_thread(encoder.encode, [text]))[0]
            async with pool.acquire() as conn:
                await vectors.nearest(conn, vector, limit=10)

        paths: dict[str, Any] = {
            "semantic-only (before)": lambda text: semantic_only(text, embedder_before),
            ONE_THREAD: lambda text: semantic_only(text, embedder),
        }
        for mode in SearchMode:
            paths[f"searchMovies {mode.name}"] = lambda text, mode=mode: search.search(text, mode=mode, limit=10)
        for text in texts[:5]:  # warm caches and prepared statements
            for run in paths.values():
                await run(text)
        names = list(paths)
        for round_ in range(rounds):
            for i, text in enumerate(texts):
                # The order turns from one text to the next: a path that follows another for the same
                # text finds the index pages it shares in the CPU's caches, and each path runs in each
                # place as often as the others.
                turn = (i + round_) % len(names)
                for name in names[turn:] + names[:turn]:
                    started = time.perf_counter()
                    await paths[name](text)
                    times[name].append((time.perf_counter() - started) * 1000)
        return results, times
    finally:
        await pool.close()


async def stored_encoder(settings: Settings, dsn: str) -> Settings:
    """The settings with the encoder that made the stored vectors: queries are encoded the same way."""
    conn = await connect(dsn, vector=False)
    try:
        model = await conn.fetchval("SELECT embedding_model FROM movies GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    finally:
        await conn.close()
    encoder = model.rsplit("+", 1)[1] if model and "+" in model else "torch"
    return settings.model_copy(update={"encoder": encoder})


# The CLI's import with the match statement answering "no match": what is left is what matching costs.
WITHOUT_MATCHING = (
    "import sys; from app.catalogue.importers import matching; "
    "matching.MATCH_RECORDS = 'SELECT NULL::int AS n FROM jsonb_array_elements($1::jsonb) WHERE false'; "
    "from app.cli import main; sys.argv[0] = 'movierec'; main()"
)


def timed_import(dsn: str, workdir: Path, env: dict[str, str], *, without_matching: bool = False) -> float:
    """Seconds for `movierec import wikipedia` of the full file into a fresh, migrated database."""
    env = {**env, "MOVIEREC_DATABASE_URL": dsn, "PYTHONPATH": str(workdir)}
    cli = [sys.executable, "-m", "app"]
    subprocess.run([*cli, "migrate"], cwd=workdir, env=env, check=True, capture_output=True)
    command = [sys.executable, "-c", WITHOUT_MATCHING] if without_matching else cli
    started = time.perf_counter()
    subprocess.run(
        [*command, "import", "wikipedia", str(SHARED_DATA / "wikipedia-movies" / "movies.json.gz")],
        cwd=workdir, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


async def _fresh(server_dsn: str, name: str) -> str:
    conn = await connect(server_dsn, vector=False)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_dsn, name)


async def _drop(server_dsn: str, name: str) -> None:
    conn = await connect(server_dsn, vector=False)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def imports(dsn: str, baseline_ref: str, rounds: int) -> dict[str, float]:
    """Median import seconds with the code here and at baseline_ref, each into a fresh database, interleaved."""
    # An import embeds nothing; the baseline's code may not know the catalogue's encoder setting.
    env = {key: value for key, value in os.environ.items() if key != "MOVIEREC_ENCODER"} | {"HF_HUB_OFFLINE": "1"}
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(baseline), baseline_ref], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        variants = {
            f"before ({baseline_ref})": (baseline, False),
            "this code (matching, search indexes)": (ROOT, False),
            "this code, match statement disabled": (ROOT, True),
        }
        try:
            for _ in range(rounds):
                for label, (workdir, without_matching) in variants.items():
                    target = asyncio.run(_fresh(dsn, "bench_import"))
                    took = timed_import(target, workdir, env, without_matching=without_matching)
                    seconds.setdefault(label, []).append(took)
            asyncio.run(_drop(dsn, "bench_import"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=True)
    return {label: statistics.median(took) for label, took in seconds.items()}


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-ref", default="8c7cd0b", help="commit whose import is the baseline")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    settings, dsn = prepared(args.data_dir)
    settings = asyncio.run(stored_encoder(settings, dsn))
    # uvloop, as uvicorn serves the API (uvicorn[standard]): each path's hops between tasks and threads cost as served.
    results, times = uvloop.run(quality_and_latency(settings, dsn, args.rounds))
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    facts = machine_facts()
    write_section(
        "search",
        "\n".join(
            [
                "## Search quality on the full Wikipedia catalogue (`python -m bench.search`)",
                "",
                facts,
                f"{results['queries']} labelled queries (app/evaluation/search_queries.json), the catalogue built by "
                "`bench/catalogue.py` (36,254 films, MovieLens ratings), encoder "
                f"`{settings.encoder}`. Recall@10 against each query's `need`; MRR over the top 100. "
                "Per-query results: docs/search-results.json.",
                "",
                *search_table(results),
            ]
        ),
        report=EVALUATION,
    )
    base = statistics.median(times["semantic-only (before)"])
    rows = [
        f"| {name} | {statistics.median(v):.2f} | {_p(v, 0.95):.2f} | {statistics.median(v) / base:.2f}x |"
        for name, v in times.items()
    ]
    body = [
        "## Search latency and import cost (`python -m bench.search`)",
        "",
        facts,
        f"One client, in process, {len(times['semantic-only (before)'])} searches per path (the labelled queries, "
        "paths interleaved, their order turned by one place from each text to the next), limit 10, vectors of "
        f"the `{settings.encoder}` encoder. `semantic-only (before)` is the path searchMovies replaced: encode the "
        "text (a thread per core, as it was served), one k-NN statement over the film vectors; the second row "
        "is the same path with the text encoded as searchMovies encodes it now (one thread, "
        "`MOVIEREC_QUERY_THREADS`, so the other core runs the word retrievers meanwhile). As the API serves "
        "them: on uvloop, from a pool that carries the search settings and sends no reset on release.",
        "",
        "| path | p50 ms | p95 ms | p50 vs before |",
        "|---|---:|---:|---:|",
        *rows,
    ]
    if not args.skip_import:
        seconds = imports(with_database(dsn, "postgres"), args.baseline_ref, args.rounds)
        before = next(iter(seconds.values()))
        body += [
            "",
            f"Full Wikipedia import (36,273 rows) with `movierec import wikipedia` into a fresh database, same "
            f"server, the median of {args.rounds} runs each (interleaved):",
            "",
            "| code | seconds | ratio |",
            "|---|---:|---:|",
            *(f"| {label} | {s:.1f} | {s / before:.2f}x |" for label, s in seconds.items()),
            "",
            'The last row is this code with the match statement answering "no match": the difference to the row '
            "above is what matching costs. Every insert also maintains more than before: the generated title, "
            "genre and overview flags, the trigram, genre and title-key indexes, and the source keys (the "
            "full-text document is written later, with the vector). What pays for it: the next batch is parsed "
            "and validated in a thread while the database writes the current one, new films and their source "
            "keys are one statement, and the command starts without importing scipy.",
        ]
    write_section("search", "\n".join(body))
    print("\n".join(search_table(results)))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
