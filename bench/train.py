"""The collaborative model: training time and peak memory on MovieLens-small and on a synthetic
100,000-movie x 1,000,000-rating set, and the API's p99 while a training runs, in the same run.

    python -m bench.train [--duration 15] [--data-dir .movierec-bench]

Each training is `movierec train` in its own process, so its peak RSS is the training's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import asyncpg

from app.auth import load_secret, mint_token
from app.db.connections import ensure_database, with_database
from bench.api import OPERATIONS
from bench.catalogue import prepared
from bench.http import free_port, start, wait_ready, wrk
from bench.report import ROOT, machine_facts, write_section

SYNTHETIC_DB = "synthetic_train"
# 100,000 movies, 10,000 users, 1,000,000 ratings; movie popularity is skewed (a cube of a uniform
# number), as real ratings are, so the most-rated 15,000 movies hold most of them.
FILL = """
INSERT INTO movies (title, content_hash, source, source_key)
SELECT 'Synthetic film ' || g, 'synthetic', 'synthetic', g::text FROM generate_series(1, 100000) AS g;
INSERT INTO users (name, source, source_key)
SELECT 'Synthetic user ' || g, 'synthetic', g::text FROM generate_series(1, 10000) AS g;
INSERT INTO ratings (user_id, movie_id, rating)
SELECT DISTINCT ON (u, m) u, m, (1 + floor(random() * 9)) / 2.0
FROM (SELECT 1 + (g % 10000) AS u, 1 + floor(100000 * random() ^ 3)::bigint AS m
      FROM generate_series(1, 1070000) AS g) AS drawn
ORDER BY u, m;
ANALYZE;
"""
RESULT = re.compile(r"(\d+) ratings by (\d+) users, (\d+) movies, (\d+) weights, ([\d.]+)s, peak RSS (\d+) MiB")


def _train(env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app", "train"], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    found = RESULT.search(done.stdout)
    assert found, done.stdout + done.stderr
    ratings, users, movies, weights, seconds, rss = (float(x) for x in found.groups())
    return {
        "ratings": ratings,
        "users": users,
        "movies": movies,
        "weights": weights,
        "seconds": seconds,
        "rss": rss,
        "wall": wall,
    }


async def _stored(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ratings"))
    finally:
        await conn.close()


async def _synthetic(server_dsn: str) -> str:
    await ensure_database(server_dsn, SYNTHETIC_DB)
    dsn = with_database(server_dsn, SYNTHETIC_DB)
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('movies') IS NOT NULL"):
            return dsn
        if await conn.fetchval("SELECT count(*) FROM ratings") < 900_000:
            await conn.execute("TRUNCATE ratings, users, movies RESTART IDENTITY CASCADE")
            await conn.execute(FILL)
        return dsn
    finally:
        await conn.close()


def main() -> None:
    """MovieLens training, synthetic training, then API p99 idle vs while trainings run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    settings, dsn = prepared(data_dir)
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(data_dir), "DATABASE_URL": dsn, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, check=True, capture_output=True)
    movielens = _train(env)

    synthetic_dsn = asyncio.run(_synthetic(dsn))
    synthetic_env = {**env, "DATABASE_URL": synthetic_dsn}
    subprocess.run([sys.executable, "-m", "app", "migrate"], env=synthetic_env, check=True, capture_output=True)
    asyncio.run(_synthetic(dsn))  # fills the tables the migration just made
    synthetic = _train(synthetic_env)
    synthetic["stored"] = asyncio.run(_stored(synthetic_dsn))

    secret = load_secret(settings)
    rng = random.Random(5)
    users = list(range(1, 672))
    auths = [f"Bearer {mint_token(secret, rng.choice(users), ttl=timedelta(hours=1))}" for _ in range(200)]
    bodies = [json.dumps({"query": OPERATIONS["recommendations"]})] * len(auths)
    port = free_port()
    api = start([sys.executable, "-m", "app", "serve", "--port", str(port)], env)
    try:
        wait_ready(port, "/readyz")
        idle = wrk(port, "/graphql", bodies, auths, 4, args.duration)
        trainer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import subprocess, sys\nwhile True: subprocess.run([sys.executable, '-m', 'app', 'train'], capture_output=True)",
            ],
            env=env,
        )
        time.sleep(2)
        busy = wrk(port, "/graphql", bodies, auths, 4, args.duration)
        trainer.kill()
        trainer.wait()
    finally:
        api.terminate()
        api.wait(timeout=30)
    _report(movielens, synthetic, idle, busy, args.duration)


def _report(
    movielens: dict[str, float],
    synthetic: dict[str, float],
    idle: dict[str, float],
    busy: dict[str, float],
    duration: int,
) -> None:
    def row(name: str, r: dict[str, float]) -> str:
        figures = [r["ratings"], r["users"], r["movies"], r["weights"]]
        counts = " | ".join(f"{x:,.0f}" for x in figures)
        return f"| {name} | {counts} | {r['seconds']:.1f} | {r['wall']:.1f} | {r['rss']:,.0f} |"

    ratio = busy["p99"] / idle["p99"]
    body = "\n".join(
        [
            "## Training the collaborative model (`make bench`, bench/train.py)",
            "",
            machine_facts(),
            "`movierec train` in its own process (EASE, l2 300, 100 weights kept per movie, at most 15,000 movies: "
            "the most rated). Seconds: the training as recorded in its audit row (load, fit, write, publish); "
            "wall: the whole command, Python start-up included. Peak RSS: the command's process.",
            "",
            "| ratings set | ratings used | users | movies in the model | weights stored | seconds | wall s | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            row("MovieLens-small on the Wikipedia catalogue", movielens),
            row("synthetic: 100,000 movies x 1,000,000 ratings", synthetic),
            "",
            f"The synthetic set stores {synthetic['stored']:,.0f} ratings; only the 15,000 most-rated movies enter "
            f"the model, holding {synthetic['ratings']:,.0f} of them: that bound is what keeps the dense n x n maths "
            "(the Gram matrix, its Cholesky factor and the inverse, float32) within a few GB.",
            "",
            f"recommendations at 4 clients (wrk, {duration}s each, random MovieLens users), idle and while "
            "`movierec train` runs back to back in another process, in the same run:",
            "",
            "| trainer | requests/s | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
            f"| idle (baseline) | {idle['rps']:.0f} | {idle['p50'] / 1000:.2f} | {idle['p95'] / 1000:.2f} | {idle['p99'] / 1000:.2f} |",
            f"| training running | {busy['rps']:.0f} | {busy['p50'] / 1000:.2f} | {busy['p95'] / 1000:.2f} | {busy['p99'] / 1000:.2f} |",
            "",
            f"p99 while training / idle p99: **{ratio:.2f}x** (target: at most 2x).",
        ]
    )
    write_section("train", body)
    print(body)


if __name__ == "__main__":
    main()
