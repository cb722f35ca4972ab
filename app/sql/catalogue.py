"""SQL for writing the catalogue: batched movie upserts and key look-ups."""

# Content columns an import writes; a row whose values all match is left alone ("unchanged").
_CONTENT = (
    "imdb_id",
    "title",
    "year",
    "overview",
    "genres",
    "keywords",
    "cast_members",
    "director",
    "vote_average",
    "vote_count",
    "popularity",
    "poster_url",
    "content_hash",
)
_ALL = ("source", "source_key", "tmdb_id", *_CONTENT)

# One batch travels as a single jsonb array of records: one round trip, whatever its size.
_RECORDSET = """jsonb_to_recordset($1::jsonb) AS r(
    source text, source_key text, tmdb_id integer, imdb_id text, title text, year smallint,
    overview text, genres text[], keywords text[], cast_members text[], director text,
    vote_average real, vote_count integer, popularity real, poster_url text, content_hash text)"""


def _upsert(conflict: str) -> str:
    columns = ", ".join(_ALL)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _CONTENT)
    before = ", ".join(f"m.{c}" for c in _CONTENT)
    after = ", ".join(f"excluded.{c}" for c in _CONTENT)
    return f"""
INSERT INTO movies AS m ({columns})
SELECT {columns} FROM {_RECORDSET}
ON CONFLICT ({conflict}) DO UPDATE SET {updates}, updated_at = now()
WHERE ({before}) IS DISTINCT FROM ({after})
RETURNING (xmax = 0) AS inserted
"""


# Wikipedia and other sources without a global id: keyed by (source, source_key).
UPSERT_MOVIES_BY_SOURCE_KEY = _upsert("source, source_key")
# TMDB rows (and the demo catalogue) are keyed by their TMDB id.
UPSERT_MOVIES_BY_TMDB_ID = _upsert("tmdb_id")

COUNT_MOVIES = "SELECT count(*) FROM movies"

MOVIE_IDS_BY_TMDB_IDS = "SELECT tmdb_id, id FROM movies WHERE tmdb_id = ANY($1::integer[])"

# Everything the MovieLens matcher needs to match by id or by title and year.
MOVIE_MATCH_KEYS = "SELECT id, tmdb_id, imdb_id, title, year FROM movies"

UPSERT_USERS = """
INSERT INTO users AS u (source, source_key, name)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT (source, source_key) DO UPDATE SET name = excluded.name
RETURNING u.source_key, u.id
"""

# Ratings keep the most recent value when a user rated twice.
UPSERT_RATINGS = """
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::numeric[], $4::timestamptz[])
ON CONFLICT (user_id, movie_id) DO UPDATE
    SET rating = excluded.rating, rated_at = excluded.rated_at, updated_at = now()
    WHERE (r.rating, r.rated_at) IS DISTINCT FROM (excluded.rating, excluded.rated_at)
RETURNING (xmax = 0) AS inserted
"""
