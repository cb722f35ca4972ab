"""searchMovies over HTTP with each encoder (bench/api.py's last table).

An API process encodes search texts with the encoder that made the vectors it serves, so each encoder
needs a catalogue of its own vectors. Re-embedding the full catalogue takes 10 minutes per ONNX
encoder and about 30 with PyTorch on 2 cores; the Wikipedia 2010s slice (2,512 films) takes one to
three. Each encoder gets a database of that slice, built once with the product's own commands beside
the benchmark catalogue and reused; one server per encoder, the cells interleaved round by round.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from app.db.connections import connect, ensure_database, with_database
from app.settings import Settings
from bench.http import free_port, median, post, rss_mib, start, wait_ready, wrk
from bench.report import SHARED_DATA

ENCODERS = ("torch", "onnx", "onnx-q8", "onnx-int8")
SLICE = SHARED_DATA / "wikipedia-movies" / "movies-2010s.json"


def slice_database(dsn: str, data_dir: Path, encoder: str) -> str:
    """The URL of the slice's database embedded with `encoder`, built on first use."""
    name = "bench_slice_" + encoder.replace("-", "_")
    url = with_database(dsn, name)

    async def built() -> bool:
        await ensure_database(dsn, name)
        conn = await connect(url, vector=False)
        try:
            if not await conn.fetchval("SELECT to_regclass('embedding_generations') IS NOT NULL"):
                return False
            model = await conn.fetchval("SELECT model FROM embedding_generations WHERE slot = 'active'")
            row = await conn.fetchrow("SELECT count(*), count(embedding) FROM movies")
            return bool(row[0]) and row[0] == row[1] and model == Settings(encoder=encoder).embedding_model
        finally:
            await conn.close()

    if not asyncio.run(built()):
        env = {**os.environ, "DATABASE_URL": url, "MOVIEREC_DATA_DIR": str(data_dir), "MOVIEREC_ENCODER": encoder}
        for step in (["migrate"], ["import", "wikipedia", str(SLICE)], ["embed"], ["index"]):
            print(f"preparing the {encoder} slice: movierec", *step, flush=True)
            subprocess.run([sys.executable, "-m", "app", *step], env={**env, "HF_HUB_OFFLINE": "1"}, check=True)
    return url


def measure(
    dsn: str, data_dir: Path, env: dict[str, str], bodies: list[str], clients: list[int], rounds: int, duration: int
) -> tuple[dict[tuple[str, int], dict[str, float]], dict[str, float]]:
    """wrk figures per (row, clients), the encoders interleaved in each round, and each server's RSS."""
    urls = {encoder: slice_database(dsn, data_dir, encoder) for encoder in ENCODERS}
    servers = {}
    try:
        for encoder, url in urls.items():
            port = free_port()
            servers[encoder] = (
                start(
                    [sys.executable, "-m", "app", "serve", "--port", str(port)],
                    {**env, "DATABASE_URL": url, "MOVIEREC_ENCODER": encoder},
                ),
                port,
            )
        for encoder, (_, port) in servers.items():
            wait_ready(port, "/readyz", timeout=300)
            answer = post(port, "/graphql", bodies[0], "")
            assert "errors" not in answer, (encoder, answer)
        results = {}
        for count in clients:
            measured: dict[str, list[dict[str, float]]] = {encoder: [] for encoder in servers}
            for _ in range(rounds):
                for encoder, (_, port) in servers.items():
                    measured[encoder].append(wrk(port, "/graphql", bodies, [""] * len(bodies), count, duration))
            for encoder, runs in measured.items():
                results[(cell_name(encoder), count)] = median(runs)
                print(encoder, count, results[(cell_name(encoder), count)], flush=True)
        return results, {f"encoder {encoder}": rss_mib(process) for encoder, (process, _) in servers.items()}
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)


def search_bodies(query: str, texts: list[str], rng: random.Random) -> list[str]:
    """200 searchMovies bodies over the benchmark's texts."""
    return [json.dumps({"query": query, "variables": {"q": rng.choice(texts)}}) for _ in range(200)]


def cell_name(encoder: str) -> str:
    """The row of one encoder in bench/api.py's results."""
    return f"searchMovies, `{encoder}` encoder (the 2010s slice)"


def report_lines(results: dict[tuple[str, int], dict[str, float]], memory: dict[str, float]) -> list[str]:
    """The per-encoder table: each encoder against PyTorch at the same concurrency."""
    lines = [
        "",
        "searchMovies with each encoder, over HTTP: a database of the Wikipedia 2010s slice (2,512 films) per "
        "encoder, embedded by it, one API process each (vector cache off), interleaved with each other in "
        "the same rounds. The slice is smaller than the catalogue above, so its figures compare encoders, "
        "not catalogues.",
        "",
        "| encoder | clients | requests/s | p50 ms | p95 ms | p99 ms | errors | p50 / torch | req/s / torch | RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for clients in sorted({c for _, c in results}):
        torch = results.get((cell_name("torch"), clients))
        for encoder in ENCODERS:
            r = results.get((cell_name(encoder), clients))
            if r is None or torch is None:
                continue
            lines.append(
                f"| `{encoder}` | {clients} | {r['rps']:.0f} | {r['p50'] / 1000:.2f} | {r['p95'] / 1000:.2f} | "
                f"{r['p99'] / 1000:.2f} | {int(r['errors'])} | {r['p50'] / torch['p50']:.2f}x | "
                f"{r['rps'] / torch['rps']:.2f}x | {memory.get(encoder, 0):.0f} |"
            )
    return lines
