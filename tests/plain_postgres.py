"""A real PostgreSQL without pgvector for the tests: Debian's `postgresql` package (PostgreSQL 15, with
its contrib extensions, without pgvector), started in a temporary folder on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
MISSING = f"Debian's postgresql (PostgreSQL 15 without pgvector) is not installed at {BIN}: run `make test`"


def available() -> bool:
    """Whether the server binaries are here."""
    return (BIN / "postgres").is_file()


def as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: the package's `postgres` user runs it then.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start() -> tuple[str, Path]:
    """initdb and start a server in a new temporary folder; returns its URI (trust, local only) and the folder.

    The folder is made directly under the temporary directory: the server's user must be able to reach it.
    """
    folder = Path(tempfile.mkdtemp(prefix="movierec-pg15-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        as_server_user([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = str(folder / "log")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        as_server_user([str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start"]),
        check=True,
        capture_output=True,
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", folder


def stop(folder: Path) -> None:
    """Stop the server started in `folder` and remove it."""
    subprocess.run(
        as_server_user([str(BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"]),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(folder, ignore_errors=True)
