"""Running a worker class (jobs.worker.WorkerSettings) with arq under a small supervisor, and asking
whether one is alive.

arq's worker stops with an exception when Redis goes away (or is not there yet); the supervisor runs
it again with exponential backoff, so an outage delays jobs but never leaves the worker down. A clean
stop (SIGTERM, SIGINT) ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from typing import Any

from arq.worker import check_health, run_worker

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


def run_worker_class(settings_cls: type[Any], *, max_backoff: float = MAX_BACKOFF_S) -> None:
    """Run arq's worker for the class until it stops cleanly; restart it, backing off, when it fails.

    SIGTERM or SIGINT between two runs (arq handles them while it runs) ends the loop cleanly too.
    """
    stop = threading.Event()

    def stop_now(signum: int, frame: Any) -> None:
        stop.set()

    delay = FIRST_BACKOFF_S
    while True:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop_now)
        if stop.is_set():
            return
        started = time.monotonic()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            run_worker(settings_cls)
            return
        except Exception as error:  # Redis down (ConnectionError, OSError, timeouts) or a start-up failure
            if time.monotonic() - started > 5 * max_backoff:
                delay = FIRST_BACKOFF_S  # it had been running fine: start the backoff again
            log.warning("worker stopped (%s: %s); starting again in %.0fs", type(error).__name__, error, delay)
        finally:
            # Closed now, not whenever it is collected: closing a loop resets the signal handlers arq
            # gave it to the defaults, and a SIGTERM after that would kill the process mid-run.
            with contextlib.suppress(Exception):
                loop.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop_now)
        if stop.wait(delay):  # a stop request cuts the backoff short
            return
        delay = min(delay * 2, max_backoff)


def worker_health(settings_cls: type[Any]) -> int:
    """0 when a worker with these settings reported healthy recently, 1 when not (or Redis cannot say)."""
    try:
        return int(check_health(settings_cls))
    except Exception as error:  # Redis unreachable: nobody can vouch for a worker
        log.warning("cannot read the worker's health from Redis: %s", error)
        return 1
