"""SQL for ratings and users."""

# A taste profile needs only, per user and liked rating value, how many movies and their mean
# vector: sum(rating * v) = sum over values of rating * count * mean. At most ten rows per user,
# however many movies they rated.
PROFILE_PARTS = """
SELECT r.user_id, r.rating::float8 AS rating, count(*) AS movies, avg(m.embedding) AS mean
FROM ratings r JOIN movies m ON m.id = r.movie_id
WHERE r.user_id = ANY($1::bigint[]) AND r.rating >= $2 AND m.embedding IS NOT NULL
GROUP BY r.user_id, r.rating
"""

RATED_IDS_BY_USERS = """
SELECT user_id, array_agg(movie_id) AS movie_ids FROM ratings WHERE user_id = ANY($1::bigint[]) GROUP BY user_id
"""

RATINGS_BY_USERS = """
SELECT user_id, movie_id, rating::float8 AS rating, rated_at
FROM ratings WHERE user_id = ANY($1::bigint[])
ORDER BY user_id, rated_at DESC, movie_id
"""

# Users from one source (the demo importer's: the ones the web app offers to sign in as), or one of them.
USERS_FROM_SOURCE = """
SELECT u.id, u.name, count(r.movie_id) AS rating_count
FROM users u LEFT JOIN ratings r ON r.user_id = u.id
WHERE u.source = $1 AND ($2::bigint IS NULL OR u.id = $2)
GROUP BY u.id ORDER BY u.id
"""

USERS_BY_IDS = "SELECT id, name, source, created_at FROM users WHERE id = ANY($1::bigint[])"

UPSERT_RATING = """
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (user_id, movie_id) DO UPDATE SET rating = excluded.rating, rated_at = now(), updated_at = now()
RETURNING user_id, movie_id, rating::float8 AS rating, rated_at
"""

DELETE_RATING = "DELETE FROM ratings WHERE user_id = $1 AND movie_id = $2 RETURNING movie_id"
