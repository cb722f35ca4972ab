"""Test databases on the session's server: created empty or from a template, dropped with FORCE."""

from __future__ import annotations

import uuid

import asyncpg


def new_name(prefix: str) -> str:
    """A database name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_database(server_uri: str, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE, empty or as a copy of `template` (names are generated here, never user input)."""
    admin = await asyncpg.connect(server_uri)
    try:
        await admin.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    finally:
        await admin.close()


async def drop_database(server_uri: str, name: str) -> None:
    """DROP DATABASE IF EXISTS, disconnecting whoever is still connected."""
    admin = await asyncpg.connect(server_uri)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
