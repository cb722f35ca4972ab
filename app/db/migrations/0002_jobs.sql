-- Background jobs: the outbox of movies to embed soon, the arq job behind each run, and when the
-- vector index was last built (to decide when an IVFFlat index needs rebuilding).
CREATE TABLE embedding_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    movie_id     bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX embedding_outbox_pending_idx ON embedding_outbox (created_at) WHERE processed_at IS NULL;

ALTER TABLE embedding_runs ADD COLUMN job_id text;
CREATE INDEX embedding_runs_job_idx ON embedding_runs (job_id);

CREATE TABLE vector_index_builds (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    method      text NOT NULL,
    rows        bigint NOT NULL,
    built_at    timestamptz NOT NULL DEFAULT now()
);
