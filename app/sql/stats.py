"""SQL for coverage statistics and health checks."""

COVERAGE = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE embedding IS NOT NULL) AS with_embedding,
       count(*) FILTER (WHERE embedding IS NOT NULL AND embedded_hash = content_hash
                          AND embedding_model = $1) AS current
FROM movies
"""

TABLE_STATISTICS = """
SELECT n_live_tup, n_mod_since_analyze, greatest(last_analyze, last_autoanalyze) AS analyzed_at
FROM pg_stat_user_tables WHERE relname = 'movies'
"""

COUNT_USERS_AND_RATINGS = "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM ratings) AS ratings"
