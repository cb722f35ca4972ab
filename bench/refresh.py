"""The API during a full embedding refresh: similarMovies p99 at 16 clients with the worker idle, then
while the worker re-embeds the whole Wikipedia catalogue, in the same run; and the refresh rate.

    python -m bench.refresh [--duration 20] [--data-dir .movierec-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

from app.auth import load_secret, mint_token
from app.db.connections import connect, resolve_database_url
from app.queue.redis_server import resolve_redis_url
from app.settings import Settings
from bench.api import OPERATIONS
from bench.catalogue import prepared
from bench.http import free_port, post, start, wait_ready, wrk
from bench.report import ROOT, machine_facts, write_section


async def _run_progress(settings: Settings) -> tuple[int, str] | None:
    conn = await connect(await resolve_database_url(settings), vector=False)
    try:
        row = await conn.fetchrow("SELECT embedded, status FROM embedding_runs ORDER BY id DESC LIMIT 1")
        return (int(row["embedded"]), str(row["status"])) if row else None
    finally:
        await conn.close()


def main() -> None:
    """Idle p99, then p99 during a full refresh, with the refresh rate measured over the same window."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    settings, dsn = prepared(data_dir)
    env = {
        **os.environ,
        "MOVIEREC_DATA_DIR": str(data_dir),
        "DATABASE_URL": dsn,
        "HF_HUB_OFFLINE": "1",
        "REDIS_URL": resolve_redis_url(settings),
    }
    secret = load_secret(settings)
    admin = f"Bearer {mint_token(secret, 1, admin=True, ttl=timedelta(hours=1))}"
    port = free_port()
    api = start([sys.executable, "-m", "app", "serve", "--port", str(port)], env)
    worker = start([sys.executable, "-m", "app", "worker"], env)
    rng = random.Random(3)
    ids = list(range(1, 36_000))
    bodies = [
        json.dumps({"query": OPERATIONS["similarMovies"], "variables": {"id": str(rng.choice(ids))}})
        for _ in range(200)
    ]
    try:
        wait_ready(port, "/readyz")
        time.sleep(10)  # the worker loads its model
        idle = wrk(port, "/graphql", bodies, [""] * len(bodies), 16, args.duration)
        answer = post(
            port, "/graphql", json.dumps({"query": "mutation { refreshEmbeddings(full: true) { id status } }"}), admin
        )
        assert "errors" not in answer, answer
        while (
            (progress := asyncio.run(_run_progress(settings))) is None or progress[1] != "running" or progress[0] == 0
        ):
            time.sleep(0.5)
        start_count, started = progress[0], time.perf_counter()
        busy = wrk(port, "/graphql", bodies, [""] * len(bodies), 16, args.duration)
        end = asyncio.run(_run_progress(settings))
        rate = ((end[0] if end else start_count) - start_count) / (time.perf_counter() - started)
    finally:
        worker.terminate()  # arq cancels the job; the run is recorded as interrupted, nothing is lost
        worker.wait(timeout=60)
        api.terminate()
        api.wait(timeout=30)
    ratio = busy["p99"] / idle["p99"]
    body = "\n".join(
        [
            "## API during a full embedding refresh (`make bench`, bench/refresh.py)",
            "",
            machine_facts(),
            f"similarMovies at 16 clients (wrk, {args.duration}s each) against `movierec serve` on the 36,254-film "
            "catalogue, first with the worker idle, then while `refreshEmbeddings(full: true)` re-embeds the whole "
            "catalogue in `movierec worker` (torch capped at half the cores), measured in the same run.",
            "",
            "| worker | requests/s | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
            f"| idle (baseline) | {idle['rps']:.0f} | {idle['p50'] / 1000:.2f} | {idle['p95'] / 1000:.2f} | {idle['p99'] / 1000:.2f} |",
            f"| full refresh running | {busy['rps']:.0f} | {busy['p50'] / 1000:.2f} | {busy['p95'] / 1000:.2f} | {busy['p99'] / 1000:.2f} |",
            "",
            f"p99 during the refresh / idle p99: **{ratio:.2f}x** (target: at most 2x). "
            f"Refresh rate while serving that load: **{rate:.1f} movies/s**.",
        ]
    )
    write_section("refresh", body)
    print(body)


if __name__ == "__main__":
    main()
