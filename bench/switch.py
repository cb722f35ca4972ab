"""A generation switch on the Wikipedia catalogue under load: failed requests, and what each step took.

    python -m bench.switch [--clients 8]

The next generation is the active one's vectors copied (a re-embedding with the same model: the model
work is the embedding benchmark's). Requests (`similarMovies`, `searchMovies`, `recommendations`) run
against one API process throughout: building the next generation's indexes concurrently, the switch,
a rollback and the prune that restore the catalogue. A request fails on an HTTP error or a GraphQL error.
Writes the section "Generation switch under load" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

import httpx

from app.auth import load_secret
from app.db.connections import connect
from app.embeddings.generations import active_generation
from app.embeddings.switch import build_next_indexes, prepare_next, prune_previous, rollback, switch_to_next
from app.settings import Settings
from bench.api import _bodies, _inputs
from bench.catalogue import prepared
from bench.http import free_port, start, wait_ready
from bench.report import ROOT, machine_facts, write_section

COPY_VECTORS = """
UPDATE movies SET next_embedding = embedding, next_embedding_model = embedding_model,
    next_embedded_hash = embedded_hash, next_embedded_at = embedded_at
"""
COPY_PASSAGES = "INSERT INTO movie_passages_next SELECT * FROM movie_passages"


async def load(port: int, bodies: list[tuple[str, str]], clients: int, stop: asyncio.Event) -> tuple[int, list[str]]:
    """Requests from `clients` concurrent callers until `stop`; the number answered and the failures."""
    answered, failures = 0, []

    async def caller(index: int) -> None:
        nonlocal answered
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            i = index
            while not stop.is_set():
                body, auth = bodies[i % len(bodies)]
                i += clients
                headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
                try:
                    response = await client.post("/graphql", content=body, headers=headers)
                    if response.status_code != 200 or "errors" in response.json():
                        failures.append(response.text[:300])
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                answered += 1

    await asyncio.gather(*(caller(i) for i in range(clients)), stop.wait())
    return answered, failures


async def measure(
    settings: Settings, dsn: str, port: int, bodies: list[tuple[str, str]], clients: int
) -> dict[str, float]:
    """The switch and its undoing under load; seconds per step, requests and failures."""
    conn = await connect(dsn)
    stop = asyncio.Event()
    traffic = asyncio.ensure_future(load(port, bodies, clients, stop))
    steps: dict[str, float] = {}

    async def step(name: str, work: object) -> None:
        started = time.perf_counter()
        await work  # type: ignore[misc]
        steps[name] = time.perf_counter() - started

    try:
        await asyncio.sleep(3)
        active = await active_generation(conn)
        await step("next generation: columns and table", prepare_next(conn, active))
        await step("next generation: vectors copied", conn.execute(COPY_VECTORS))
        await step("next generation: passages copied", conn.execute(COPY_PASSAGES))
        await step("indexes built concurrently", build_next_indexes(conn, settings))
        await step("switch (one transaction)", switch_to_next(conn, settings))
        await asyncio.sleep(3)
        await step("rollback (one transaction)", rollback(conn))
        await step("prune", prune_previous(conn))
        await asyncio.sleep(3)
    finally:
        stop.set()
        answered, failures = await traffic
        await conn.close()
    steps["requests"], steps["failed"] = answered, len(failures)
    if failures:
        print("first failures:", *failures[:5], sep="\n")
    return steps


def main() -> None:
    """Run it and write the section."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    args = parser.parse_args()
    settings, dsn = prepared(args.data_dir.resolve())
    movies, users, _ = asyncio.run(_inputs(settings, 7))
    secret = load_secret(settings)
    rng = random.Random(7)
    bodies: list[tuple[str, str]] = []
    for op in ("similarMovies", "searchMovies", "recommendations"):
        texts, auths = _bodies(op, movies, users, secret, rng)
        bodies += list(zip(texts, auths, strict=True))
    rng.shuffle(bodies)
    port = free_port()
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(args.data_dir.resolve()), "DATABASE_URL": dsn, "HF_HUB_OFFLINE": "1"}
    server = start([sys.executable, "-m", "app", "serve", "--port", str(port)], env)
    try:
        wait_ready(port, "/readyz", timeout=300)
        steps = asyncio.run(measure(settings, dsn, port, bodies, args.clients))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(steps, indent=1))
    lines = [
        "## Generation switch under load (`python -m bench.switch`)",
        "",
        machine_facts(),
        "",
        f"The Wikipedia catalogue; one API process; {args.clients} callers sending `similarMovies`, `searchMovies`",
        "and `recommendations` throughout. The next generation holds the active one's vectors, copied (the",
        "model's work is measured by the embedding benchmark); then its indexes, the switch, a rollback",
        "and the prune that leave the catalogue as it was.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.2f} |" for name, seconds in steps.items() if name not in ("requests", "failed")),
        "",
        f"Requests answered during all of it: {int(steps['requests']):,}; failed: **{int(steps['failed'])}**.",
    ]
    write_section("switch", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
