"""API reads through a streaming replica vs all on the primary, in the same run, on the Wikipedia catalogue.

    python -m bench.replicas [--duration 8] [--clients 16]

The replica is a hot standby of the benchmark catalogue's server (pg_basebackup -R, same machine). On
this machine both servers share the same 2 cores, so this measures the routing's cost, not the capacity a
replica on its own machine adds (docs/scaling.md says how to read it). Writes the section "Read replica".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from app.auth import load_secret
from app.db.connections import with_database
from app.db.replica_server import start_replica
from bench.api import _bodies, _inputs
from bench.catalogue import prepared
from bench.http import free_port, start, wait_ready, wrk
from bench.report import ROOT, machine_facts, write_section

OPERATIONS = ("similarMovies", "recommendations", "searchMovies")


def main() -> None:
    """Each operation at `clients`, primary only and then reads on the replica."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    settings, dsn = prepared(data_dir)
    movies, users, _ = asyncio.run(_inputs(settings, 7))
    secret = load_secret(settings)
    rng = random.Random(7)
    workloads = {op: _bodies(op, movies, users, secret, rng) for op in OPERATIONS}
    started = time.perf_counter()
    server_uri = with_database(dsn, "postgres")
    replica = start_replica(server_uri)
    copy_s = time.perf_counter() - started
    replica_url = with_database(replica.uri, urlsplit(dsn).path.lstrip("/"))
    env = {**os.environ, "MOVIEREC_DATA_DIR": str(data_dir), "DATABASE_URL": dsn, "HF_HUB_OFFLINE": "1"}
    rows = []
    try:
        for label, extra in (
            ("primary only (baseline)", {}),
            ("reads on the replica", {"DATABASE_REPLICA_URLS": replica_url}),
        ):
            port = free_port()
            server = start([sys.executable, "-m", "app", "serve", "--port", str(port)], {**env, **extra})
            try:
                wait_ready(port, "/readyz")
                for op, (bodies, auths) in workloads.items():
                    result = wrk(port, "/graphql", bodies, auths, args.clients, args.duration)
                    rows.append((op, label, result))
                    print(op, label, result, flush=True)
            finally:
                server.terminate()
                server.wait(timeout=30)
    finally:
        replica.remove()
    base = {op: result for op, label, result in rows if label.startswith("primary")}
    lines = [
        "## Read replica (`python -m bench.replicas`)",
        "",
        machine_facts(),
        "",
        f"The catalogue's server copied to a hot standby with pg_basebackup -R ({copy_s:.0f} s, same machine);",
        f"one API process, {args.clients} clients, {args.duration} s per row. Both servers share this",
        "machine's 2 cores: what a replica adds on a machine of its own is not measurable here.",
        "",
        "| operation | reads | requests/s | p50 ms | p99 ms | errors | req/s / primary only |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {op} | {label} | {r['rps']:.0f} | {r['p50'] / 1000:.2f} | {r['p99'] / 1000:.2f} | {int(r['errors'])} | "
        f"{r['rps'] / base[op]['rps']:.2f}x |"
        for op, label, r in rows
    ]
    body = "\n".join(lines)
    write_section("replicas", body)
    print(body)


if __name__ == "__main__":
    main()
