"""A real PostgreSQL without pgvector for the tests: Debian's `postgresql` package (PostgreSQL 15, with
its contrib extensions, without pgvector), started in a temporary folder on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
MISSING = f"Debian's postgresql (PostgreSQL 15 without pgvector) is not installed at {BIN}: run `make test`"


def available() -> bool:
    """Whether the server binaries are here."""
    return (BIN / "postgres").is_file()


def _as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: the package's `postgres` user runs it then.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(folder: Path) -> str:
    """initdb and start a server in `folder`; returns its URI (trust authentication, local only)."""
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        _as_server_user([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = str(folder / "log")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_server_user([str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start"]),
        check=True,
        capture_output=True,
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def stop(folder: Path) -> None:
    """Stop the server started in `folder`."""
    subprocess.run(
        _as_server_user([str(BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"]),
        check=False,
        capture_output=True,
    )
