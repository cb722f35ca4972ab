"""`movierec stats` and `movierec doctor`: coverage, index facts, and health checks with fixes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.db.migrate import column_dimension
from app.db.portable import pgvector_installed
from app.embeddings.generations import GenerationStatus, generation_statuses
from app.embeddings.runs import load_last_run
from app.recs.models import load_active_model
from app.search.fallback import PORTABLE_SEARCH
from app.search.index import IndexInfo, describe_index

COVERAGE = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE embedding IS NOT NULL) AS with_embedding,
       count(*) FILTER (WHERE embedding IS NOT NULL AND embedded_hash = content_hash
                          AND embedding_model = $1) AS current,
       count(*) FILTER (WHERE NOT has_overview) AS thin,
       (SELECT count(*) FROM movie_passages WHERE ordinal > 0) AS passages
FROM movies
"""

COUNT_USERS_AND_RATINGS = "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM ratings) AS ratings"


@dataclass(frozen=True)
class Stats:
    """Coverage and index facts, as `movierec stats` and the API's `stats` show them."""

    total_movies: int
    with_embeddings: int
    current_embeddings: int
    users: int
    ratings: int
    model: str
    dimension: int | None
    index: IndexInfo | None
    last_run: dict[str, Any] | None
    recommender: dict[str, Any] | None = None
    thin_movies: int = 0  # only a title describes them: left out of semantic lists by default
    passages: int = 0  # sentence vectors searched beside the films' own
    # Every generation in a slot: the active one, and during a model change the next (and previous).
    generations: list[GenerationStatus] = field(default_factory=list)
    # How k-NN reads are answered: pgvector, or the in-process exact search (and why), with its fix.
    vector_search: str = "pgvector"
    vector_search_fix: str | None = None
    # Each read replica's state and lag (app/db/replicas.py), when the API has any.
    replicas: list[dict[str, Any]] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        """Share of movies with an up-to-date embedding from the active generation's model, in percent."""
        return 100.0 * self.current_embeddings / self.total_movies if self.total_movies else 100.0

    def lines(self) -> list[str]:
        """Human-readable lines."""
        out = [
            f"movies: {self.total_movies}",
            f"with embeddings: {self.with_embeddings} ({self.current_embeddings} current)",
            f"coverage: {self.coverage:.1f}%",
            f"thin records (title only, left out of semantic lists): {self.thin_movies}",
            f"passage vectors: {self.passages}",
            f"model: {self.model} ({self.dimension} dimensions)",
            f"k-NN reads: {self.vector_search}",
            *([f"k-NN fix: {self.vector_search_fix}"] if self.vector_search_fix else []),
            *(f"generation {each.line()}" for each in self.generations),
            f"users: {self.users}, ratings: {self.ratings}",
        ]
        if self.index is None:
            out.append("index: none (exact scan)")
        else:
            params = ", ".join(f"{k}={v}" for k, v in sorted(self.index.options.items()))
            out.append(
                f"index: {self.index.method} {self.index.opclass} ({params}), "
                f"{'valid' if self.index.valid else 'INVALID'}, {self.index.size_bytes / 2**20:.1f} MiB"
            )
        if self.last_run:
            run = self.last_run
            out.append(
                f"last run: #{run['id']} {run['status']} at {run['started_at']:%Y-%m-%d %H:%M:%S}, "
                f"embedded {run['embedded']}, skipped {run['skipped']}, failed {run['failed']}"
            )
        model = self.recommender
        if model is None:
            out.append("recommender: no collaborative model (content similarity and popularity serve)")
        else:
            out.append(
                f"recommender: model {model['id']} ({model['method']}) trained {model['finished_at']:%Y-%m-%d %H:%M}, "
                f"{model['ratings']} ratings, {model['users']} users, {model['movies']} movies"
            )
        return out


async def collect_stats(conn: asyncpg.Connection) -> Stats:
    """Read coverage (of the active generation's model), counts, generations, the index and the last run."""
    generations = await generation_statuses(conn)
    model = next(each.generation.model for each in generations if each.generation.slot == "active")
    coverage = await conn.fetchrow(COVERAGE, model)
    people = await conn.fetchrow(COUNT_USERS_AND_RATINGS)
    last_run = await load_last_run(conn)
    return Stats(
        total_movies=coverage["total"],
        with_embeddings=coverage["with_embedding"],
        current_embeddings=coverage["current"],
        thin_movies=coverage["thin"],
        passages=coverage["passages"],
        users=people["users"],
        ratings=people["ratings"],
        model=model,
        dimension=await column_dimension(conn),
        index=await describe_index(conn),
        last_run=last_run,
        recommender=await load_active_model(conn),
        generations=generations,
        vector_search="pgvector" if await pgvector_installed(conn) else PORTABLE_SEARCH,
    )
