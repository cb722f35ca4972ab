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
    assert {"db", "redis", "migrate", "api", "worker"} <= services.keys()
    assert services["db"]["image"].startswith("pgvector/pgvector:pg18")
    assert "--appendonly" in services["redis"]["command"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "movierec", "worker", "--check"]
    for name in ("db", "redis", "api", "worker"):
        assert services[name]["healthcheck"]["test"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_commands_name_real_cli_entry_points() -> None:
    commands = get_command(cli).commands  # type: ignore[attr-defined]
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if service.get("build") and command:
            assert command[0] == "movierec", name
            assert command[1] in commands, f"{name}: `movierec {command[1]}` does not exist"


def test_environment_names_match_the_settings() -> None:
    known = {f"MOVIEREC_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL", "REDIS_URL"}
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
