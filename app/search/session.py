"""HNSW's search settings carried by pooled connections, so a k-NN read is one plain statement."""

from __future__ import annotations

import asyncpg

from app.search.fusion import TITLE_MIN_SIMILARITY
from app.settings import Settings


def session_settings(settings: Settings) -> dict[str, str]:
    """HNSW's search settings as connection parameters: a pool opened with them needs no per-query SET."""
    return {
        "hnsw.ef_search": str(int(settings.hnsw_ef_search)),
        "hnsw.iterative_scan": "strict_order",
        # Title search's trigram index prunes at this similarity (app/search/hybrid.py filters at it too).
        "pg_trgm.similarity_threshold": str(TITLE_MIN_SIMILARITY),
    }


CURRENT_EF_SEARCH = "SELECT current_setting('hnsw.ef_search', true)"


async def carries_session_settings(conn: asyncpg.Connection, settings: Settings) -> bool:
    """Whether this (pooled) connection was opened with `session_settings`."""
    return bool(await conn.fetchval(CURRENT_EF_SEARCH) == str(int(settings.hnsw_ef_search)))
