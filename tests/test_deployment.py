"""docker-compose.yml cannot run here (no Docker engine); parse it and check it against the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.main import get_command

from app.cli import cli
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_services_and_health_checks() -> None:
    services = _compose()["services"]
    assert {"db", "db-replica", "redis", "migrate", "api", "proxy", "worker"} <= services.keys()
    assert services["db"]["image"].startswith("pgvector/pgvector:pg18")
    assert "--appendonly" in services["redis"]["command"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "movierec", "worker", "--check"]
    for name in ("db", "db-replica", "redis", "api", "proxy", "worker"):
        assert services[name]["healthcheck"]["test"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_scaled_deployment_reads_from_a_replica_behind_one_proxy() -> None:
    compose = _compose()
    services = compose["services"]
    api, worker, replica, proxy = (services[name] for name in ("api", "worker", "db-replica", "proxy"))
    assert api["deploy"]["replicas"] >= 2 and "ports" not in api  # only the proxy listens
    assert worker["deploy"]["replicas"] >= 2
    nginx = compose["configs"]["nginx-api"]["content"].replace("$$", "$")  # as compose interpolates it
    assert proxy["ports"] == ["8000:8000"] and "proxy_pass $api;" in nginx and "set $api http://api:8000;" in nginx
    assert "resolver 127.0.0.11" in nginx  # re-resolves `api`, so scaled replicas are picked up
    start = replica["command"][-1]
    assert "pg_basebackup -h db" in start and " -R " in start and "exec postgres" in start
    assert "host replication" in compose["configs"]["allow-replication"]["content"]
    assert api["environment"]["DATABASE_REPLICA_URLS"].split("@")[1].startswith("db-replica:5432/")
    assert api["environment"]["DATABASE_URL"].split("@")[1].startswith("db:5432/")  # writes: the primary
    assert Settings(database_replica_urls=api["environment"]["DATABASE_REPLICA_URLS"]).replica_urls


def test_commands_name_real_cli_entry_points() -> None:
    commands = get_command(cli).commands  # type: ignore[attr-defined]
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if service.get("build") and command:
            assert command[0] == "movierec", name
            assert command[1] in commands, f"{name}: `movierec {command[1]}` does not exist"


def test_environment_names_match_the_settings() -> None:
    known = {f"MOVIEREC_{name.upper()}" for name in Settings.model_fields} | {
        "DATABASE_URL",
        "DATABASE_REPLICA_URLS",
        "REDIS_URL",
    }
    for name, service in _compose()["services"].items():
        if service.get("build"):
            assert set(service["environment"]) <= known, name
    assert re.search(r"^FROM python:3\.11", (ROOT / "Dockerfile").read_text(), re.M)


def test_the_image_installs_graphiql_files_from_the_lockfile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY app/web/package\.json app/web/package-lock\.json", dockerfile, re.M)
    assert "RUN npm ci --omit=dev" in dockerfile
    assert "COPY --from=web /web/node_modules ./app/web/node_modules" in dockerfile
    assert "app/web/node_modules" in (ROOT / ".dockerignore").read_text()
