-- A full refresh or a model backfill split into chunk jobs that many workers share
-- (app/embeddings/chunks.py): the run row counts for all of them, each chunk row is one job's share.
ALTER TABLE embedding_runs
    ADD COLUMN slot text NOT NULL DEFAULT 'active',
    -- NULL: a run done by one process under the embedding lock; else how many chunks it was split into.
    ADD COLUMN chunks integer,
    ADD COLUMN chunks_done integer NOT NULL DEFAULT 0;

CREATE TABLE embedding_run_chunks (
    run_id      bigint NOT NULL REFERENCES embedding_runs (id) ON DELETE CASCADE,
    first_id    bigint NOT NULL,
    last_id     bigint NOT NULL,
    done        boolean NOT NULL DEFAULT false,
    embedded    integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    -- host:pid of the worker process that embedded it.
    worker      text,
    finished_at timestamptz,
    PRIMARY KEY (run_id, first_id),
    CHECK (first_id <= last_id)
);
