"""The benchmarks' catalogue: the full Wikipedia file with MovieLens ratings, embedded and indexed once
in `.movierec-bench/` (about 15 minutes on 2 cores), reused by every benchmark after that."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.db.connections import connect, resolve_database_url
from app.db.replica_server import BIN, as_server_user
from app.settings import Settings
from bench.report import SHARED_DATA

# The encoder of the catalogue's vectors, and so of every benchmark's servers and workers (a process
# encodes search texts with the served generation's encoder): int8 in blocks, within the neighbour
# guard of PyTorch's vectors and the quickest of those to encode a search text (bench/embed.py).
BENCH_ENCODER = "onnx-q8"


def ensure_catalogue(data_dir: Path) -> None:
    """Import, embed and index the Wikipedia + MovieLens catalogue once; later runs reuse it."""
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "MOVIEREC_ENCODER": BENCH_ENCODER}
    settings = Settings(data_dir=data_dir, encoder=BENCH_ENCODER)

    async def coverage() -> tuple[int, int, str | None]:
        conn = await connect(await resolve_database_url(settings), vector=False)
        try:
            if not await conn.fetchval("SELECT to_regclass('movies') IS NOT NULL"):
                return 0, 0, None
            row = await conn.fetchrow("SELECT count(*), count(embedding) FROM movies")
            model = await conn.fetchval("SELECT model FROM embedding_generations WHERE slot = 'active'")
            return int(row[0]), int(row[1]), model
        finally:
            await conn.close()

    cli = [sys.executable, "-m", "app"]
    total, embedded, model = asyncio.run(coverage())
    if total >= 36_000 and embedded == total:
        # A catalogue from an earlier run: bring its schema up to date, keep everything else. Vectors
        # of another encoder are re-embedded as the product does it: a generation backfilled beside
        # them, indexed and switched in (about 10 minutes), the old one pruned and the table compacted.
        subprocess.run([*cli, "migrate"], env=env, check=True)
        if model != settings.embedding_model:
            print(f"preparing: re-embedding {model} vectors with {BENCH_ENCODER}", flush=True)
            subprocess.run([*cli, "embed"], env=env, check=True)
            subprocess.run([*cli, "generations", "prune"], env=env, check=True)
            asyncio.run(compact(settings))
        return
    steps = [
        ["migrate"],
        ["import", "wikipedia", str(SHARED_DATA / "wikipedia-movies" / "movies.json.gz")],
        ["import", "movielens", str(SHARED_DATA / "movielens-small")],
        ["embed"],
        ["index"],
    ]
    for step in steps:
        print("preparing:", "movierec", *step, flush=True)
        subprocess.run([*cli, *step], env=env, check=True)


async def compact(settings: Settings) -> None:
    """Rewrite the films' table and its indexes after a re-embedding, as a fresh catalogue has them.

    The backfill writes a new version of every row, most of them on another page, and a dropped
    generation's vectors stay in the rows until they are rewritten; until this ran, the word
    statement took 2.1 ms p50 against 1.0 after it, and every search was slower with it.
    """
    conn = await connect(await resolve_database_url(settings), vector=False)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("VACUUM (FULL, ANALYZE) movies")
        await conn.execute("VACUUM (ANALYZE) movie_passages")
    finally:
        await conn.close()


def prepared(data_dir: Path) -> tuple[Settings, str]:
    """Settings and database URL for the benchmark catalogue, building it on first use."""
    if not (SHARED_DATA / "wikipedia-movies" / "movies.json.gz").exists():
        sys.exit(f"skipped: {SHARED_DATA} not found (the benchmark reads ../shared/data)")
    ensure_catalogue(data_dir)
    os.environ["MOVIEREC_ENCODER"] = BENCH_ENCODER  # every server and worker a benchmark starts
    settings = Settings(data_dir=data_dir, encoder=BENCH_ENCODER)
    dsn = asyncio.run(resolve_database_url(settings))
    if not settings.database_url:
        ensure_shared_buffers(dsn, data_dir / "pgdata")
    return settings, dsn


# The catalogue's tables and vector indexes take about 750 MB (the passages' HNSW index alone 260 MB);
# PostgreSQL's default shared_buffers (128 MB) would send every meaning search to the OS cache, which
# a server sized for its data does not do. Set once, with ALTER SYSTEM, in the benchmark's own server.
SHARED_BUFFERS_MB = 1024


def ensure_shared_buffers(dsn: str, pgdata: Path) -> None:
    """Give the embedded benchmark server SHARED_BUFFERS_MB of shared buffers (a restart, the first time)."""

    async def current_mb() -> int:
        conn = await connect(dsn, vector=False)
        try:
            pages = await conn.fetchval("SELECT setting::bigint FROM pg_settings WHERE name = 'shared_buffers'")
            if int(pages) * 8 // 1024 < SHARED_BUFFERS_MB:
                await conn.execute(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS_MB}MB'")
            return int(pages) * 8 // 1024
        finally:
            await conn.close()

    if asyncio.run(current_mb()) < SHARED_BUFFERS_MB:
        # The log file keeps the server off pg_ctl's pipes, which run() would otherwise wait on forever.
        log = pgdata / "server.log"  # inside PGDATA: the server user may write there
        restart = [str(BIN / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-m", "fast", "-w", "restart"]
        subprocess.run(as_server_user(restart), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
