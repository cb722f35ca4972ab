"""SQL for the embedding pipeline and its audit trail."""

# Held for the whole run on the pipeline's connection: two refreshes never run at once.
EMBED_LOCK_KEY = 7_361_044_202
TRY_EMBED_LOCK = "SELECT pg_try_advisory_lock($1)"
RELEASE_EMBED_LOCK = "SELECT pg_advisory_unlock($1)"

# A movie needs embedding when it has none, its text changed since, or another model made it.
# $1 model, $2 cut-off: with --all, anything embedded before this run started is redone too.
_STALE = """(embedding IS NULL
     OR embedded_hash IS DISTINCT FROM content_hash
     OR embedding_model IS DISTINCT FROM $1
     OR ($2::timestamptz IS NOT NULL AND embedded_at < $2))"""

COUNT_STALE = f"""
SELECT count(*) FILTER (WHERE {_STALE}) AS stale, count(*) AS total FROM movies
"""

# Keyset pagination by id: a movie that keeps failing is passed over, never looped on.
NEXT_STALE_BATCH = f"""
SELECT id, title, year, overview, genres, keywords, cast_members, director, content_hash
FROM movies
WHERE id > $3 AND {_STALE}
ORDER BY id
LIMIT $4
"""

CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS embedding_staging (
    id bigint PRIMARY KEY,
    embedding vector({dimension}) NOT NULL,
    content_hash text NOT NULL
) ON COMMIT DELETE ROWS
"""

STAGING_TABLE = "embedding_staging"
STAGING_COLUMNS = ("id", "embedding", "content_hash")

# embedded_hash records the text the vector was made from; if the movie changed while it
# was being encoded, the hashes differ and the next run picks it up again.
APPLY_STAGING = """
UPDATE movies AS m
SET embedding = s.embedding, embedding_model = $1, embedded_hash = s.content_hash, embedded_at = now()
FROM embedding_staging AS s
WHERE m.id = s.id
"""

START_RUN = """
INSERT INTO embedding_runs (trigger, model, full_run, job_id) VALUES ($1, $2, $3, $4)
RETURNING id, started_at
"""

UPDATE_RUN_COUNTS = """
UPDATE embedding_runs SET embedded = $2, skipped = $3, failed = $4, title_only = $5 WHERE id = $1
"""

FINISH_RUN = """
UPDATE embedding_runs
SET status = $2, finished_at = now(), embedded = $3, skipped = $4, failed = $5, title_only = $6, error = $7
WHERE id = $1
"""

# A run left 'running' by a process that died is no longer running once the lock is free.
MARK_ABANDONED_RUNS = """
UPDATE embedding_runs SET status = 'interrupted', finished_at = now(),
    error = coalesce(error, 'the process running it stopped before it finished')
WHERE status = 'running'
"""

LAST_RUN = """
SELECT id, trigger, model, full_run, status, started_at, finished_at,
       embedded, skipped, failed, title_only, error
FROM embedding_runs ORDER BY id DESC LIMIT 1
"""
