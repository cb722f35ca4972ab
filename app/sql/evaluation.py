"""SQL for offline evaluation: every rating in time order, every movie vector."""

RATINGS_IN_TIME_ORDER = """
SELECT user_id, movie_id, rating::float8 AS rating FROM ratings ORDER BY user_id, rated_at, movie_id
"""

ALL_EMBEDDINGS = "SELECT id, embedding FROM movies WHERE embedding IS NOT NULL ORDER BY id"
