"""SQL for reading movies: by id, paged title search, and the nearest-neighbour queries."""

from app.settings import Metric

# Everything the API's Movie type shows, plus how many ratings the movie has (its popularity).
MOVIE_COLUMNS = """m.id, m.tmdb_id, m.imdb_id, m.title, m.year, m.overview, m.genres, m.keywords,
    m.cast_members, m.director, m.vote_average, m.vote_count, m.popularity, m.poster_url,
    m.embedding IS NOT NULL AS has_embedding, m.embedded_at,
    (SELECT count(*) FROM ratings r WHERE r.movie_id = m.id) AS rating_count"""


def _filter(first: int) -> str:
    """MovieFilter as SQL over parameters $first..$first+4: genres, year range, vote average, ids."""
    g, y0, y1, v, ex = (f"${first + i}" for i in range(5))
    return (
        f"({g}::text[] IS NULL OR m.genres && {g}::text[]) AND ({y0}::int IS NULL OR m.year >= {y0}::int) "
        f"AND ({y1}::int IS NULL OR m.year <= {y1}::int) AND ({v}::real IS NULL OR m.vote_average >= {v}::real) "
        f"AND NOT (m.id = ANY(coalesce({ex}::bigint[], '{{}}')))"
    )


MOVIES_BY_IDS = f"SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.id = ANY($1::bigint[])"
MOVIES_WITH_EMBEDDINGS_BY_IDS = f"SELECT {MOVIE_COLUMNS}, m.embedding FROM movies m WHERE m.id = ANY($1::bigint[])"

# The viewer's rated movies most similar to a target, liked ones ($3 threshold) first, with how
# many they rated and liked in all: the evidence for an explanation, whatever the number of ratings.
RATED_SIMILAR_TO = f"""
SELECT {MOVIE_COLUMNS}, r.rating::float8 AS rating,
       1 - (m.embedding <=> (SELECT t.embedding FROM movies t WHERE t.id = $2)) AS similarity,
       count(*) OVER () AS rated, count(*) FILTER (WHERE r.rating >= $3) OVER () AS liked
FROM ratings r JOIN movies m ON m.id = r.movie_id
WHERE r.user_id = $1 AND m.embedding IS NOT NULL AND r.movie_id <> $2
ORDER BY r.rating >= $3 DESC, similarity DESC, m.id
LIMIT $4
"""

# Keyset pagination over (lower(title), id); $1 is an ILIKE pattern or NULL.
LIST_MOVIES = f"""
SELECT {MOVIE_COLUMNS}, lower(m.title) AS sort_title
FROM movies m
WHERE ($1::text IS NULL OR m.title ILIKE $1) AND {_filter(2)}
  AND ($7::text IS NULL OR (lower(m.title), m.id) > ($7::text, $8::bigint))
ORDER BY lower(m.title), m.id
LIMIT $9
"""

_OPERATORS: dict[Metric, str] = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}

# The query vector: a parameter, or a movie's own vector kept inside SQL (an InitPlan, so the
# index still applies).
VECTOR_PARAM = "$1::vector"
MOVIE_VECTOR = "(SELECT e.embedding FROM movies e WHERE e.id = $1::bigint)"


def nearest(metric: Metric, query_vector: str, *, exact: bool = False) -> str:
    """k-nearest movies to a query vector with MovieFilter ($2-$6), exclusions ($7) and viewer ($8).

    The indexed form orders by the distance operator itself so pgvector's index serves it; the
    exact form orders by an expression of it, which no index matches: a full, exact scan.
    """
    distance = f"m.embedding {_OPERATORS[metric]} {query_vector}"
    order = f"({distance}) + 0" if exact else distance
    return f"""
SELECT {MOVIE_COLUMNS}, m.embedding, {distance} AS distance
FROM movies m
WHERE m.embedding IS NOT NULL AND {query_vector} IS NOT NULL AND {_filter(2)}
  AND NOT (m.id = ANY($7::bigint[]))
  AND ($8::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = $8 AND x.movie_id = m.id))
ORDER BY {order}
LIMIT $9
"""


# One lateral k-NN per query vector, for batches (several users, several liked movies): one round trip.
def nearest_many(metric: Metric) -> str:
    """k-nearest movies for each ($1 key, $2 vector) pair, with MovieFilter ($3-$7) and exclusions."""
    distance = f"m.embedding {_OPERATORS[metric]} q.vector"
    return f"""
SELECT q.key, c.*
FROM unnest($1::bigint[], $2::vector[]) AS q(key, vector)
CROSS JOIN LATERAL (
    SELECT {MOVIE_COLUMNS}, m.embedding, {distance} AS distance
    FROM movies m
    WHERE m.embedding IS NOT NULL AND {_filter(3)}
      AND NOT (m.id = ANY($8::bigint[]))
      AND ($9::boolean IS NOT TRUE
           OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = q.key AND x.movie_id = m.id))
    ORDER BY {distance}
    LIMIT $10
) AS c
"""


NEAREST = {
    (metric, vector, exact): nearest(metric, vector, exact=exact)
    for metric in _OPERATORS
    for vector in (VECTOR_PARAM, MOVIE_VECTOR)
    for exact in (False, True)
}
NEAREST_MANY = {metric: nearest_many(metric) for metric in _OPERATORS}

# Cold start: movies many people rated well, the catalogue's own votes breaking ties; same
# filter ($1-$5), exclusions ($6) and viewer ($7) as the k-NN queries.
POPULAR_MOVIES = f"""
WITH popularity AS (
    SELECT movie_id, count(*) * avg(rating) AS weight FROM ratings GROUP BY movie_id
)
SELECT {MOVIE_COLUMNS}, m.embedding, NULL::float8 AS distance
FROM movies m LEFT JOIN popularity p ON p.movie_id = m.id
WHERE m.embedding IS NOT NULL AND {_filter(1)}
  AND NOT (m.id = ANY($6::bigint[]))
  AND ($7::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = $7 AND x.movie_id = m.id))
ORDER BY coalesce(p.weight, 0) + coalesce(m.vote_count, 0) * coalesce(m.vote_average, 0) / 100.0 DESC, m.id
LIMIT $8
"""

# Embeddings of given movies (examples for recommendationsForMovies).
EMBEDDINGS_BY_IDS = "SELECT id, embedding FROM movies WHERE id = ANY($1::bigint[])"

MOVIE_HAS_EMBEDDING = "SELECT embedding IS NOT NULL FROM movies WHERE id = $1"
