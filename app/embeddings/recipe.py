"""Keep stored content hashes in step with the code's embedding recipe.

A movie's content_hash is computed when it is written. When RECIPE_VERSION changes (the text or the
passages a movie is embedded from), every stored hash is recomputed once, so the next run re-embeds
each movie while its old vector keeps serving queries.
"""

from __future__ import annotations

import asyncpg

from app.embeddings.text import RECIPE_VERSION, content_from_row, content_hash

STORED_RECIPE = "SELECT version FROM embedding_recipe"
SET_STORED_RECIPE = "UPDATE embedding_recipe SET version = $1"

MOVIE_CONTENT_BATCH = """
SELECT id, title, year, overview, genres, keywords, cast_members, director
FROM movies WHERE id > $1 ORDER BY id LIMIT $2
"""

SET_CONTENT_HASHES = """
UPDATE movies AS m SET content_hash = h.hash
FROM unnest($1::bigint[], $2::text[]) AS h(id, hash)
WHERE m.id = h.id AND m.content_hash IS DISTINCT FROM h.hash
"""

REHASH_BATCH = 5_000


async def rehash_if_recipe_changed(conn: asyncpg.Connection) -> int:
    """Recompute every content hash when the stored recipe is not the code's; returns the movies rehashed."""
    if await conn.fetchval(STORED_RECIPE) == RECIPE_VERSION:
        return 0
    changed, after = 0, 0
    async with conn.transaction():
        while rows := await conn.fetch(MOVIE_CONTENT_BATCH, after, REHASH_BATCH):
            hashes = [content_hash(content_from_row(row)) for row in rows]
            status = await conn.execute(SET_CONTENT_HASHES, [row["id"] for row in rows], hashes)
            changed += int(status.split()[-1])
            after = rows[-1]["id"]
        await conn.execute(SET_STORED_RECIPE, RECIPE_VERSION)
    return changed
