"""API latency and throughput under wrk, with a raw Starlette + asyncpg route as the baseline in the same run.

    python -m bench.api [--duration 5] [--rounds 3] [--clients 1,16] [--data-dir .movierec-bench]

Needs the Wikipedia catalogue (and MovieLens ratings) embedded with an HNSW index in --data-dir;
it builds that on first use (about 15 minutes on 2 cores). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.auth import load_secret, mint_token
from app.db.connections import connect, resolve_database_url
from app.search import vectors as sql
from app.search.filters import NO_FILTER
from app.settings import Settings
from bench import api_encoders as encoders
from bench.catalogue import prepared
from bench.http import free_port, median, post, rss_mib, rss_pid, start, wait_ready, wrk
from bench.report import ROOT, machine_facts, write_section

SIMILAR_FILTER = replace(NO_FILTER, exclude_thin=True)
OPERATIONS = {
    "similarMovies": "query($id: ID!) { similarMovies(movieId: $id, limit: 10) { items { rank similarity movie { id title year } } } }",
    "recommendations": "{ recommendations(limit: 10) { strategy items { score movie { id title } } } }",
    "recommendationsForMovies": "query($p: [ID!]!) { recommendationsForMovies(positive: $p, limit: 10) { items { movie { id title } } } }",
    "explainRecommendation": "query($id: ID!) { explainRecommendation(movieId: $id) { text similarToYourFavorites { yourRating movie { title } } } }",
    "searchMovies": "query($q: String!) { searchMovies(query: $q, limit: 10) { items { movie { id title } } } }",
}
SEARCHES = [
    "a heist inside dreams",
    "space station disaster",
    "small town murder mystery",
    "talking animals",
    "courtroom drama about justice",
    "a musician chasing fame",
    "haunted house",
    "war in the pacific",
]


async def _inputs(settings: Settings, seed: int) -> tuple[list[int], list[int], float]:
    """Random embedded movie ids, users with ratings, and recall@10 of the index against an exact scan."""
    conn = await connect(await resolve_database_url(settings))
    try:
        movies = [r[0] for r in await conn.fetch("SELECT id FROM movies WHERE embedding IS NOT NULL ORDER BY id")]
        users = [r[0] for r in await conn.fetch("SELECT user_id FROM ratings GROUP BY user_id HAVING count(*) >= 5")]
        rng = random.Random(seed)
        sample, overlap = rng.sample(movies, 200), 0
        params: list[Any] = SIMILAR_FILTER.params()  # similarMovies' default: thin records left out
        for movie in sample:
            async with conn.transaction():
                await conn.execute(
                    f"SET LOCAL hnsw.ef_search = {settings.hnsw_ef_search}; SET LOCAL hnsw.iterative_scan = strict_order"
                )
                served = sql.plain_nearest_sql("cosine", sql.MOVIE_VECTOR, True, False, sql.plain_limit(10) or 10)
                fast = (await conn.fetch(served, movie, [movie]))[:10]
            exact_sql = sql.NEAREST[("cosine", sql.MOVIE_VECTOR, True, True, True)]
            exact = await conn.fetch(exact_sql, movie, *params, [movie], None, 10)
            overlap += len({r["id"] for r in fast} & {r["id"] for r in exact})
        return rng.sample(movies, 500), rng.sample(users, min(200, len(users))), overlap / (10 * len(sample))
    finally:
        await conn.close()


def _bodies(
    op: str, movies: list[int], users: list[int], secret: str, rng: random.Random
) -> tuple[list[str], list[str]]:
    """200 request bodies (and Authorization headers) for one operation."""
    bodies, auths = [], []
    for _ in range(200):
        user = rng.choice(users)
        auth = f"Bearer {mint_token(secret, user, ttl=timedelta(hours=2))}"
        variables: dict[str, Any] = {
            "similarMovies": {"id": str(rng.choice(movies))},
            "recommendations": {},
            "recommendationsForMovies": {"p": [str(m) for m in rng.sample(movies, 3)]},
            "explainRecommendation": {"id": str(rng.choice(movies))},
            "searchMovies": {"q": rng.choice(SEARCHES)},
        }[op]
        bodies.append(json.dumps({"query": OPERATIONS[op], "variables": variables}))
        auths.append(auth if op in ("recommendations", "explainRecommendation") else "")
    return bodies, auths


def main() -> None:
    """Measure every operation at each concurrency, and the raw baseline alongside."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every operation (medians reported)")
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="operations to measure")
    parser.add_argument("--workers", type=int, default=2, help="also measure `serve --workers N` at the most clients")
    parser.add_argument(
        "--encoders", action=argparse.BooleanOptionalAction, default=True, help="searchMovies per encoder (2010s slice)"
    )
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    settings, dsn = prepared(data_dir)
    movies, users, recall = asyncio.run(_inputs(settings, args.seed))
    secret = load_secret(settings)
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(data_dir), "DATABASE_URL": dsn, "HF_HUB_OFFLINE": "1", **NO_CACHE}
    api_port, raw_port, alone_port = free_port(), free_port(), free_port()
    servers = [
        start([sys.executable, "-m", "app", "serve", "--port", str(api_port)], env),
        start(
            [sys.executable, "-m", "uvicorn", "bench.raw_app:app", "--port", str(raw_port), "--log-level", "warning"],
            env,
        ),
    ]
    if "searchMovies" in args.ops.split(","):
        # The same API encoding every search text on its own (no batching), interleaved with the rest.
        servers.append(
            start([sys.executable, "-m", "app", "serve", "--port", str(alone_port)], {**env, **UNBATCHED_ENV})
        )
    rng = random.Random(args.seed)
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        wait_ready(api_port, "/readyz")
        if len(servers) == 3:
            wait_ready(alone_port, "/readyz")
        wait_ready(raw_port, "/")  # any answer (a 404) means it is up
        raw_bodies = [json.dumps({"movieId": m, "limit": 10}) for m in rng.sample(movies, 200)]
        workloads = {op: _bodies(op, movies, users, secret, rng) for op in args.ops.split(",")}
        for op, (bodies, auths) in workloads.items():
            answer = post(api_port, "/graphql", bodies[0], auths[0])
            assert "errors" not in answer, (op, answer)
        _same_answers(api_port, raw_port, raw_bodies[:20])
        raw = [""] * len(raw_bodies)
        cells: dict[str, tuple[int, str, list[str], list[str]]] = {
            BASELINE: (raw_port, "/similar-plain", raw_bodies, raw),
            BARE: (raw_port, "/similar-bare", raw_bodies, raw),
            TRANSACTIONAL: (raw_port, "/similar", raw_bodies, raw),
            **{op: (api_port, "/graphql", bodies, auths) for op, (bodies, auths) in workloads.items()},
        }
        if "searchMovies" in workloads:
            cells[UNBATCHED] = (alone_port, "/graphql", *workloads["searchMovies"])
        for clients in (int(c) for c in args.clients.split(",")):
            # Every cell once per round, rounds one after another: a drift of the machine's speed
            # reaches every cell alike, and each figure is the median over the rounds.
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in cells}
            for _ in range(args.rounds):
                for name, (port, path, bodies, auths) in cells.items():
                    rounds[name].append(wrk(port, path, bodies, auths, clients, args.duration))
            for name, measured in rounds.items():
                results[(name, clients)] = median(measured)
                print(name, clients, results[(name, clients)], flush=True)
        memory = {"one process": rss_mib(servers[0])}
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    if "searchMovies" in args.ops.split(","):
        # The searches' 8 texts come back again and again: with the vector cache on (the default),
        # none is encoded after its first search. A server of its own, after the interleaved rounds.
        port = free_port()
        server = start([sys.executable, "-m", "app", "serve", "--port", str(port)], {**env, **DEFAULT_CACHE})
        try:
            wait_ready(port, "/readyz", timeout=300)
            bodies, auths = workloads["searchMovies"]
            for clients in (int(c) for c in args.clients.split(",")):
                results[(CACHED, clients)] = wrk(port, "/graphql", bodies, auths, clients, args.duration)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if args.encoders:
        clients = [int(c) for c in args.clients.split(",")]
        bodies = encoders.search_bodies(OPERATIONS["searchMovies"], SEARCHES, rng)
        found, rss = encoders.measure(dsn, data_dir, env, bodies, clients, args.rounds, args.duration)
        results.update(found)
        memory.update(rss)
    if args.workers > 1:
        most = max(int(c) for c in args.clients.split(","))
        port = free_port()
        command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(args.workers)]
        server = start(command, env)
        try:
            wait_ready(port, "/readyz", timeout=300)
            time.sleep(5)  # every worker up
            for op in ("similarMovies", "searchMovies"):
                bodies, auths = workloads.get(op) or _bodies(op, movies, users, secret, rng)
                label = f"{op}, {args.workers} workers"
                results[(label, most)] = wrk(port, "/graphql", bodies, auths, most, args.duration)
            children = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
            memory[f"each of {args.workers} workers"] = max(rss_pid(c) for c in children) if children else 0.0
        finally:
            server.terminate()
            server.wait(timeout=30)
    _report(results, recall, args, memory, settings.encoder)


def _same_answers(api_port: int, raw_port: int, raw_bodies: list[str]) -> None:
    """The baseline answers what similarMovies answers: the same films in the same order."""
    for body in raw_bodies:
        movie = json.loads(body)["movieId"]
        raw = post(raw_port, "/similar-plain", body, "")
        api = post(
            api_port,
            "/graphql",
            json.dumps({"query": OPERATIONS["similarMovies"], "variables": {"id": str(movie)}}),
            "",
        )
        raw_ids = [int(item["movie"]["id"]) for item in raw["items"]]
        api_ids = [int(item["movie"]["id"]) for item in api["data"]["similarMovies"]["items"]]
        assert raw_ids == api_ids, (movie, raw_ids, api_ids)


UNBATCHED = "searchMovies, each text encoded alone (before batching)"
UNBATCHED_ENV = {"MOVIEREC_QUERY_BATCH": "1", "MOVIEREC_QUERY_PARALLEL": "64"}
# Every search encodes its text (the API's default keeps recent texts' vectors: the CACHED row).
NO_CACHE = {"MOVIEREC_QUERY_CACHE": "0"}
DEFAULT_CACHE = {"MOVIEREC_QUERY_CACHE": str(Settings().query_cache)}
CACHED = "searchMovies, texts searched before (vector cache, the default)"
BASELINE = "raw route, one statement (baseline)"
BARE = "raw route, one statement, no reset on release"
TRANSACTIONAL = "raw route, BEGIN + SET LOCAL + COMMIT"


def _report(
    results: dict[tuple[str, int], dict[str, float]],
    recall: float,
    args: argparse.Namespace,
    memory: dict[str, float],
    encoder: str,
) -> None:
    baseline = BASELINE
    lines = [
        "## API (`make bench`, bench/api.py)",
        "",
        machine_facts(),
        f"Catalogue: the Wikipedia movies (36,254) with MovieLens ratings, all-MiniLM-L6-v2 vectors made with the `{encoder}` "
        "encoder (every server runs with it: a process encodes search texts with the served generation's encoder; "
        "what another encoder costs per search text: the embedding section above), HNSW (m 16, "
        f"ef_construction 64, ef_search {Settings().hnsw_ef_search}). Load: wrk, one thread, random inputs "
        f"(200 bodies per operation), {args.rounds} rounds of {args.duration}s per cell, every cell once per round; "
        "each figure is the median over the rounds. The server is one uvicorn process. The baseline is a bare "
        "Starlette route running similarMovies' one statement with raw asyncpg (asyncpg's default pool) on a "
        "connection that carries the search settings, with the API's default filter (thin records left out) and "
        "page (one row more: whether more follow); the run checks on 20 films that it answers what the API "
        "answers. A second raw row uses a pool that does not reset a "
        "released connection, as the API's pool does not (one round trip less per request); the third wraps the "
        "statement in BEGIN + SET LOCAL and COMMIT, as the API did before. "
        "Measured in the same run, interleaved with the rest: searchMovies on a second API process that encodes every search text alone "
        "(`MOVIEREC_QUERY_BATCH=1`), as before texts arriving together were batched. Every server but one runs "
        "with `MOVIEREC_QUERY_CACHE=0`, so that every search encodes its text (the searches repeat 8 texts); "
        "the last searchMovies row is a server with the default cache, after the interleaved rounds.",
        "",
        "Recall@10 of the indexed similar-movies query (thin records left out, as similarMovies serves it) against "
        f"an exact scan (200 random movies): **{recall:.3f}**.",
        "",
        "| operation | clients | requests/s | p50 ms | p95 ms | p99 ms | errors | p50 / baseline p50 | req/s / baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    per_encoder = {key: r for key, r in results.items() if key[0] in {encoders.cell_name(e) for e in encoders.ENCODERS}}
    main = {key: r for key, r in results.items() if key not in per_encoder}
    for (op, clients), r in sorted(main.items(), key=lambda kv: (kv[0][1], kv[0][0] != baseline, kv[0][0])):
        base = results[(baseline, clients)]
        ratio, throughput = r["p50"] / base["p50"], r["rps"] / base["rps"]
        lines.append(
            f"| {op} | {clients} | {r['rps']:.0f} | {r['p50'] / 1000:.2f} | {r['p95'] / 1000:.2f} | "
            f"{r['p99'] / 1000:.2f} | {int(r['errors'])} | {ratio:.2f}x | {throughput:.2f}x |"
        )
    servers = {k: v for k, v in memory.items() if not k.startswith("encoder ")}
    lines += [
        "",
        "API process RSS after its runs (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in servers.items()) + ".",
    ]
    if per_encoder:
        by_encoder = {k.removeprefix("encoder "): v for k, v in memory.items() if k.startswith("encoder ")}
        lines += encoders.report_lines(per_encoder, by_encoder)
    write_section("api", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
