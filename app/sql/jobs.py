"""SQL for background jobs: the embedding outbox, run look-ups and index-build bookkeeping."""

ADD_TO_OUTBOX = "INSERT INTO embedding_outbox (movie_id) VALUES ($1)"

# Outbox rows whose movie now has a current embedding from the model are done.
MARK_OUTBOX_DONE = """
UPDATE embedding_outbox AS o SET processed_at = now()
FROM movies AS m
WHERE o.movie_id = m.id AND o.processed_at IS NULL
  AND m.embedded_hash = m.content_hash AND m.embedding_model = $1
"""

# What the sweeper re-enqueues: work recorded but not done after a grace period.
PENDING_OUTBOX = """
SELECT count(*) AS pending, min(created_at) AS oldest
FROM embedding_outbox WHERE processed_at IS NULL AND created_at < now() - make_interval(secs => $1)
"""

RUN_BY_JOB_ID = """
SELECT id, trigger, model, full_run, status, started_at, finished_at, embedded, skipped, failed, title_only, error
FROM embedding_runs WHERE job_id = $1 ORDER BY id DESC LIMIT 1
"""

RECENT_RUNS = """
SELECT id, trigger, model, full_run, status, started_at, finished_at, embedded, skipped, failed, title_only, error,
       job_id
FROM embedding_runs ORDER BY id DESC LIMIT $1
"""

RECORD_INDEX_BUILD = "INSERT INTO vector_index_builds (method, rows) VALUES ($1, $2)"

# How many vectors were written since the index was last built, out of how many.
CHANGED_SINCE_INDEX_BUILD = """
SELECT count(*) FILTER (WHERE embedded_at > coalesce((SELECT max(built_at) FROM vector_index_builds), '-infinity'))
           AS changed,
       count(*) AS total
FROM movies WHERE embedding IS NOT NULL
"""
