"""Running a worker class (jobs.worker.WorkerSettings) with arq, and asking whether one is alive."""

from __future__ import annotations

from typing import Any

from arq.worker import check_health, run_worker


def run_worker_class(settings_cls: type[Any]) -> None:
    """Run arq's worker for the class until SIGTERM or SIGINT."""
    run_worker(settings_cls)


def worker_health(settings_cls: type[Any]) -> int:
    """0 when a worker with these settings reported healthy recently, 1 when not (arq's health key)."""
    return int(check_health(settings_cls))
