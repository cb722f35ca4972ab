"""GraphQL types for operating movierec: coverage and index facts, embedding runs, models and queued jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.embeddings.generations import GenerationStatus
from app.queue.client import QueuedJob
from app.status.doctor import Check
from app.status.stats import Stats as StatsModel


@strawberry.type(description="A build parameter of the vector index, e.g. m = 16.")
class IndexParameter:
    name: str
    value: str


@strawberry.type(description="The vector index on movies.embedding.")
class VectorIndex:
    method: str
    operator_class: str
    valid: bool
    size_bytes: int
    parameters: list[IndexParameter]


@strawberry.type(description="An embedding run's audit row.")
class EmbeddingRun:
    id: strawberry.ID
    status: str
    trigger: str
    full: bool
    started_at: datetime
    finished_at: datetime | None
    embedded: int
    skipped: int = strawberry.field(description="Movies whose embedding was already current.")
    failed: int
    error: str | None

    @classmethod
    def from_row(cls, run: dict[str, Any]) -> EmbeddingRun:
        """Build from an embedding_runs row."""
        return cls(
            id=strawberry.ID(str(run["id"])),
            status=run["status"],
            trigger=run["trigger"],
            full=run["full_run"],
            started_at=run["started_at"],
            finished_at=run["finished_at"],
            embedded=run["embedded"],
            skipped=run["skipped"],
            failed=run["failed"],
            error=run["error"],
        )


@strawberry.type(description="A queued embedding refresh: the queue's view and the run it produced.")
class RefreshJob:
    id: strawberry.ID
    status: str = strawberry.field(
        description="queued, deferred, in_progress, not_found once finished, or dead: its worker stopped (arq "
        "delivers it again once MOVIEREC_REFRESH_TIMEOUT_S has passed)."
    )
    run: EmbeddingRun | None = strawberry.field(description="The latest run started by this job id, if any.")

    @classmethod
    def from_job(cls, job: QueuedJob) -> RefreshJob:
        """The queue's status plus the job's latest embedding run."""
        return cls(id=strawberry.ID(job.id), status=job.status, run=EmbeddingRun.from_row(job.run) if job.run else None)


@strawberry.type(
    description="The vectors of one embedding model. ACTIVE serves every query; during a model change NEXT is "
    "being backfilled beside it, and after a switch PREVIOUS is kept for a rollback until pruned."
)
class EmbeddingGeneration:
    id: strawberry.ID
    slot: str = strawberry.field(description="active, next or previous.")
    model: str = strawberry.field(description="As stored beside each vector: the model, and +<encoder> if not torch.")
    dimension: int
    movies: int
    current_vectors: int = strawberry.field(description="Movies with a vector made from their current text.")
    coverage_percentage: float
    index_valid: bool | None = strawberry.field(description="The films' vector index: valid, invalid, or null: none.")
    passage_index_valid: bool | None

    @classmethod
    def from_status(cls, status: GenerationStatus) -> EmbeddingGeneration:
        """Build from app.embeddings.generations.GenerationStatus."""
        g, c = status.generation, status.coverage
        return cls(
            id=strawberry.ID(str(g.id)),
            slot=g.slot,
            model=g.model,
            dimension=g.dimension,
            movies=c.total,
            current_vectors=c.current,
            coverage_percentage=round(c.percent, 2),
            index_valid=status.index_valid,
            passage_index_valid=status.passage_index_valid,
        )


@strawberry.type(description="A read replica (DATABASE_REPLICA_URLS) as this API process sees it now.")
class ReplicaStatus:
    name: str = strawberry.field(description="host:port/database, without credentials.")
    up: bool
    lag_seconds: float | None = strawberry.field(
        description="Time since the last transaction it replayed, 0 when caught up."
    )
    lag_bytes: int | None = strawberry.field(description="WAL bytes it has still to replay.")
    error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReplicaStatus:
        """Build from app.db.replicas.ReadRouter.lags()."""
        return cls(
            name=row["name"],
            up=row["up"],
            lag_seconds=row.get("lag_s"),
            lag_bytes=row.get("lag_bytes"),
            error=row.get("error"),
        )


@strawberry.type(description="Catalogue coverage and index facts, as `movierec stats` prints them.")
class Stats:
    total_movies: int
    movies_with_embeddings: int
    current_embeddings: int
    coverage_percentage: float
    stale_embeddings: int = strawberry.field(description="Movies whose text changed since their vector was made.")
    missing_embeddings: int = strawberry.field(description="Movies with no vector yet.")
    thin_movies: int = strawberry.field(
        description="Films described by their title alone: left out of semantic search and similar lists by default."
    )
    passages: int = strawberry.field(description="Sentence vectors searched beside the films' own.")
    users: int
    ratings: int
    model: str
    dimension: int | None
    index: VectorIndex | None
    last_run: EmbeddingRun | None
    recommender: RecommenderModel | None = strawberry.field(description="The collaborative model serving now.")
    vector_search: str = strawberry.field(
        description="How this API process answers nearest-neighbour reads: pgvector, or an exact search in the "
        "process (a database without pgvector, or pgvector's path degraded, with the cause)."
    )
    vector_search_fix: str | None = strawberry.field(description="What to do about a degraded path; null when none.")
    replicas: list[ReplicaStatus] = strawberry.field(description="Read replicas and their lag; empty without any.")
    generations: list[EmbeddingGeneration] = strawberry.field(
        description="The active generation, and during a model change the one being backfilled (and the previous)."
    )

    @classmethod
    def from_model(cls, s: StatsModel) -> Stats:
        """Build from app.status.stats.Stats."""
        index = s.index
        run = s.last_run
        return cls(
            total_movies=s.total_movies,
            movies_with_embeddings=s.with_embeddings,
            current_embeddings=s.current_embeddings,
            coverage_percentage=round(s.coverage, 2),
            stale_embeddings=s.with_embeddings - s.current_embeddings,
            missing_embeddings=s.total_movies - s.with_embeddings,
            thin_movies=s.thin_movies,
            passages=s.passages,
            users=s.users,
            ratings=s.ratings,
            model=s.model,
            dimension=s.dimension,
            index=VectorIndex(
                method=index.method,
                operator_class=index.opclass,
                valid=index.valid,
                size_bytes=index.size_bytes,
                parameters=[IndexParameter(name=k, value=v) for k, v in sorted(index.options.items())],
            )
            if index
            else None,
            last_run=EmbeddingRun.from_row(run) if run else None,
            recommender=RecommenderModel.from_row(s.recommender) if s.recommender else None,
            generations=[EmbeddingGeneration.from_status(each) for each in s.generations],
            vector_search=s.vector_search,
            vector_search_fix=s.vector_search_fix,
            replicas=[ReplicaStatus.from_row(row) for row in s.replicas],
        )


@strawberry.type(description="A training of the collaborative model: its audit row.")
class RecommenderModel:
    id: strawberry.ID
    method: str
    status: str = strawberry.field(description="training, ready, failed, or interrupted (its process died).")
    active: bool = strawberry.field(description="This model serves recommendations now.")
    previous: bool = strawberry.field(description="Kept for rollback.")
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    ratings: int | None
    users: int | None
    movies: int | None
    weights: int | None = strawberry.field(description="Item-item weights stored.")
    seconds: float | None
    peak_rss_mb: float | None = strawberry.field(description="Peak resident memory of the training process.")
    error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RecommenderModel:
        """Build from a recommender_models row (app.recs.models)."""
        return cls(
            id=strawberry.ID(str(row["id"])),
            method=row["method"],
            status=row["status"],
            active=bool(row["active"]),
            previous=bool(row["previous"]),
            trigger=row["trigger"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            ratings=row["ratings"],
            users=row["users"],
            movies=row["movies"],
            weights=row["weights"],
            seconds=row["seconds"],
            peak_rss_mb=row["peak_rss_mb"],
            error=row["error"],
        )


@strawberry.type(description="A queued training: the queue's view and the model it trained.")
class TrainingJob:
    id: strawberry.ID
    status: str = strawberry.field(
        description="queued, deferred, in_progress, not_found once finished, or dead: its worker stopped (arq "
        "delivers it again once MOVIEREC_REFRESH_TIMEOUT_S has passed)."
    )
    model: RecommenderModel | None = strawberry.field(description="The latest training started by this job id.")

    @classmethod
    def from_job(cls, job: QueuedJob) -> TrainingJob:
        """The queue's status plus the job's latest training."""
        model = RecommenderModel.from_row(job.model) if job.model else None
        return cls(id=strawberry.ID(job.id), status=job.status, model=model)


@strawberry.type(description="One health check, as `movierec doctor` prints it: OK or not, what was found, the fix.")
class HealthCheck:
    name: str
    ok: bool
    detail: str
    fix: str

    @classmethod
    def from_check(cls, check: Check) -> HealthCheck:
        """Build from app.status.doctor.Check."""
        return cls(name=check.name, ok=check.ok, detail=check.detail, fix=check.fix)
