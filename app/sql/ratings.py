"""SQL for ratings and users."""

# A user's ratings with each movie's vector: the input to their taste profile.
RATED_WITH_EMBEDDINGS = """
SELECT r.user_id, r.movie_id, r.rating::float8 AS rating, r.rated_at, m.embedding
FROM ratings r JOIN movies m ON m.id = r.movie_id
WHERE r.user_id = ANY($1::bigint[])
ORDER BY r.user_id, r.rated_at DESC, r.movie_id
"""

RATINGS_BY_USERS = """
SELECT user_id, movie_id, rating::float8 AS rating, rated_at
FROM ratings WHERE user_id = ANY($1::bigint[])
ORDER BY user_id, rated_at DESC, movie_id
"""

USERS_BY_IDS = "SELECT id, name, source, created_at FROM users WHERE id = ANY($1::bigint[])"

UPSERT_RATING = """
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (user_id, movie_id) DO UPDATE SET rating = excluded.rating, rated_at = now(), updated_at = now()
RETURNING user_id, movie_id, rating::float8 AS rating, rated_at
"""

DELETE_RATING = "DELETE FROM ratings WHERE user_id = $1 AND movie_id = $2 RETURNING movie_id"
