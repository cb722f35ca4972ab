"""Load and overload against one `movierec serve` process on the benchmark catalogue:

1. steady: 20 clients for 5 minutes of mixed reads and ratings; every rating acknowledged is checked
   in the database afterwards (none lost), and server errors are counted;
2. overload: 100 clients for 2 minutes; what share is refused fast (503) rather than served slowly,
   the server's memory over time, and how soon p95 is back to normal after.

    python -m bench.load [--steady 300] [--overload 120] [--data-dir .movierec-bench]

Results go to docs/reliability.md. The clients are Python (httpx, asyncio) on the same 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from app.auth import load_secret, mint_token
from app.db.connections import connect
from bench.catalogue import prepared
from bench.http import free_port, start, wait_ready
from bench.report import ROOT, machine_facts, write_section

RELIABILITY = ROOT / "docs" / "reliability.md"
READS = [
    ("query($id: ID!) { similarMovies(movieId: $id, limit: 10) { items { movie { id title } } } }", "movie"),
    ("{ recommendations(limit: 10) { strategy items { movie { id title } } } }", "user"),
    (
        "query($id: ID!) { movie(id: $id) { id title overview ratingCount alsoLiked(limit: 5) { movie { id } } } }",
        "movie",
    ),
    ("query($q: String!) { searchMovies(query: $q, limit: 10) { items { movie { id } } } }", "search"),
]
RATE = "mutation($id: ID!, $r: Float!) { rateMovie(movieId: $id, rating: $r) { rating } }"
SEARCHES = ["a heist inside dreams", "space station disaster", "haunted house", "war in the pacific"]


@dataclass
class Tally:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    acknowledged: dict[tuple[int, int], float] = field(default_factory=dict)


async def _client(
    port: int, deadline: float, tally: Tally, tokens: dict[int, str], movies: list[int], rng: random.Random, rate: bool
) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while time.monotonic() < deadline:
            user = rng.choice(list(tokens))
            headers = {"Authorization": f"Bearer {tokens[user]}"}
            if rate and rng.random() < 0.25:
                movie, value = rng.choice(movies), rng.choice([0.5, 1.0, 2.5, 3.5, 4.0, 4.5, 5.0])
                body = {"query": RATE, "variables": {"id": str(movie), "r": value}}
            else:
                document, kind = rng.choice(READS)
                variables = {"movie": {"id": str(rng.choice(movies))}, "search": {"q": rng.choice(SEARCHES)}}
                body = {"query": document, "variables": variables.get(kind, {})}
                movie, value = 0, 0.0
            started = time.perf_counter()
            try:
                response = await client.post("/graphql", json=body, headers=headers)
            except httpx.HTTPError:
                tally.statuses[0] += 1
                continue
            tally.statuses[response.status_code] += 1
            payload = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            for error in payload.get("errors") or []:
                tally.codes[error.get("extensions", {}).get("code", "?")] += 1
            if response.status_code == 200:
                tally.latencies.append(time.perf_counter() - started)
                if movie and not payload.get("errors"):
                    tally.acknowledged[(user, movie)] = value  # the last acknowledged value wins


async def _run(port: int, seconds: float, clients: int, tokens: dict[int, str], movies: list[int], rate: bool) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    rngs = [random.Random(seed) for seed in range(clients)]
    await asyncio.gather(*(_client(port, deadline, tally, tokens, movies, rng, rate) for rng in rngs))
    return tally


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] * 1000 if len(values) > 20 else float("nan")


async def _bench_users(dsn: str, count: int) -> list[int]:
    """Users of the benchmark's own (their ratings must not change the catalogue's evaluation data)."""
    conn = await connect(dsn, vector=False)
    try:
        await conn.execute("DELETE FROM users WHERE source = 'load-bench'")
        rows = await conn.fetch(
            "INSERT INTO users (name, source, source_key) SELECT 'Load ' || g, 'load-bench', g::text "
            "FROM generate_series(1, $1::int) AS g RETURNING id",
            count,
        )
        return [row["id"] for row in rows]
    finally:
        await conn.close()


async def _forget_bench_users(dsn: str) -> None:
    conn = await connect(dsn, vector=False)
    try:
        await conn.execute("DELETE FROM users WHERE source = 'load-bench'")
    finally:
        await conn.close()


async def _lost(dsn: str, acknowledged: dict[tuple[int, int], float]) -> int:
    conn = await connect(dsn, vector=False)
    try:
        rows = await conn.fetch(
            "SELECT user_id, movie_id, rating::float8 AS r FROM ratings WHERE user_id = ANY($1::bigint[])",
            sorted({u for u, _ in acknowledged}),
        )
    finally:
        await conn.close()
    stored = {(r["user_id"], r["movie_id"]): r["r"] for r in rows}
    return sum(1 for key, value in acknowledged.items() if stored.get(key) != value)


def main() -> None:
    """Steady load, then overload, then recovery; the report goes to docs/reliability.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--steady", type=int, default=300)
    parser.add_argument("--overload", type=int, default=120)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    settings, dsn = prepared(data_dir)
    secret = load_secret(settings)
    users = asyncio.run(_bench_users(dsn, 100))
    tokens = {user: mint_token(secret, user, ttl=timedelta(hours=2)) for user in users}
    movies = list(range(1, 36_000, 7))
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(data_dir), "DATABASE_URL": dsn, "HF_HUB_OFFLINE": "1"}
    port = free_port()
    server = start([sys.executable, "-m", "app", "serve", "--port", str(port)], env)
    memory: list[tuple[float, float]] = []
    try:
        wait_ready(port, "/readyz")
        before = asyncio.run(_run(port, 20, 4, tokens, movies, False))
        steady = asyncio.run(_run(port, args.steady, 20, tokens, movies, True))
        lost = asyncio.run(_lost(dsn, steady.acknowledged))
        started = time.monotonic()

        async def overload_with_memory() -> Tally:
            async def sample() -> None:
                while True:
                    memory.append((time.monotonic() - started, rss_mib(server.pid)))
                    await asyncio.sleep(5)

            sampler = asyncio.create_task(sample())
            try:
                return await _run(port, args.overload, 100, tokens, movies, False)
            finally:
                sampler.cancel()

        overload = asyncio.run(overload_with_memory())
        recovery: list[tuple[int, float]] = []
        for second in (5, 15, 30):
            time.sleep(max(0.0, second - (time.monotonic() - started - args.overload)))
            after = asyncio.run(_run(port, 5, 4, tokens, movies, False))
            recovery.append((second, _p95(after.latencies)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        asyncio.run(_forget_bench_users(dsn))
    _report(args, before, steady, lost, overload, memory, recovery)


def _report(
    args: argparse.Namespace,
    before: Tally,
    steady: Tally,
    lost: int,
    overload: Tally,
    memory: list[tuple[float, float]],
    recovery: list[tuple[int, float]],
) -> None:
    def errors(t: Tally) -> str:
        return ", ".join(f"{code} {n}" for code, n in t.codes.most_common()) or "none"

    served = overload.statuses[200]
    refused = overload.statuses[503]
    total = sum(overload.statuses.values())
    body = "\n".join(
        [
            "## Load and overload (bench/load.py)",
            "",
            machine_facts(),
            "One `movierec serve` process on the Wikipedia + MovieLens catalogue (hybrid recommendations served "
            "by a trained model); clients are Python (httpx) on the same 2 cores. Mixed operations: similarMovies, "
            "recommendations, a movie with alsoLiked, searchMovies, and (steady phase) 25% rateMovie.",
            "",
            f"- **Before** (4 clients, 20 s): p95 {_p95(before.latencies):.0f} ms.",
            f"- **Steady** ({args.steady} s, 20 clients): {sum(steady.statuses.values())} requests, statuses "
            f"{dict(steady.statuses)}, error codes: {errors(steady)}; 5xx: "
            f"{sum(n for s, n in steady.statuses.items() if s >= 500)}; p95 {_p95(steady.latencies):.0f} ms. "
            f"Ratings acknowledged: {len(steady.acknowledged)} (user, movie) pairs; lost or wrong afterwards: **{lost}**.",
            f"- **Overload** ({args.overload} s, 100 clients): {total} requests; served {served}, refused fast with "
            f"503 {refused} ({100 * refused / max(total, 1):.0f}%), other {dict(overload.statuses)}; p95 of the served "
            f"{_p95(overload.latencies):.0f} ms. Server RSS every 5 s (MiB): "
            + ", ".join(f"{rss:.0f}" for _, rss in memory)
            + ".",
            "- **Recovery** (4 clients, 5 s each, seconds after the overload ended): "
            + ", ".join(f"{s} s: p95 {p:.0f} ms" for s, p in recovery)
            + f" (before: {_p95(before.latencies):.0f} ms).",
        ]
    )
    write_section("load", body, RELIABILITY)
    print(body)


if __name__ == "__main__":
    main()
