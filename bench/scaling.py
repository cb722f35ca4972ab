"""HNSW at 384 dimensions stored as `vector` (float32) and as `halfvec` (float16), built with and without
parallel maintenance workers, on synthetic random unit vectors: the figures docs/scaling.md extrapolates.

    python -m bench.scaling [--rows 100000]

Runs on a temporary embedded PostgreSQL (pgvector 0.8); writes the section "HNSW: vector vs halfvec"
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from app.db.connections import connect, ensure_database, start_embedded_server, with_database
from bench.report import machine_facts, write_section

BUILDS = [
    ("vector", 0, "CREATE INDEX bench_idx ON bench USING hnsw (v vector_cosine_ops)"),
    ("vector", 1, "CREATE INDEX bench_idx ON bench USING hnsw (v vector_cosine_ops)"),
    ("halfvec", 1, "CREATE INDEX bench_idx ON bench USING hnsw ((v::halfvec(384)) halfvec_cosine_ops)"),
]


async def measure(dsn: str, rows: int) -> list[str]:
    """Table size, index size and build time per storage and parallelism."""
    conn = await connect(dsn, vector=False)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await conn.close()
    conn = await connect(dsn)
    rng = np.random.default_rng(384)
    await conn.execute("CREATE TABLE bench (id bigint, v vector(384))")
    for offset in range(0, rows, 50_000):
        block = rng.standard_normal((min(50_000, rows - offset), 384)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        await conn.copy_records_to_table("bench", records=[(offset + i, v) for i, v in enumerate(block)])
    await conn.execute("ANALYZE bench")
    table = int(await conn.fetchval("SELECT pg_table_size('bench')"))
    lines = [
        f"{rows:,} random unit vectors, 384-d, HNSW m 16, ef_construction 64, maintenance_work_mem 2GB; "
        f"the table itself (float32 vectors): {table / 2**20:.0f} MiB.",
        "",
        "| storage | parallel workers | build s | index MiB | bytes per row |",
        "|---|---:|---:|---:|---:|",
    ]
    for storage, workers, statement in BUILDS:
        await conn.execute("DROP INDEX IF EXISTS bench_idx")
        await conn.execute(f"SET maintenance_work_mem = '2GB'; SET max_parallel_maintenance_workers = {workers}")
        started = time.perf_counter()
        await conn.execute(statement)
        build = time.perf_counter() - started
        size = int(await conn.fetchval("SELECT pg_relation_size('bench_idx')"))
        lines.append(f"| {storage} | {workers} | {build:.1f} | {size / 2**20:.0f} | {size / rows:,.0f} |")
    await conn.close()
    return lines


def main() -> None:
    """Measure on a throwaway server and write the section."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="movierec-scaling-bench-"))
    server = start_embedded_server(folder / "pg", keep_running=False)
    asyncio.run(ensure_database(server, "scaling"))
    lines = asyncio.run(measure(with_database(server, "scaling"), args.rows))
    body = "\n".join(["## HNSW: vector vs halfvec (`python -m bench.scaling`)", "", machine_facts(), "", *lines])
    write_section("scaling", body)
    print(body)


if __name__ == "__main__":
    main()
