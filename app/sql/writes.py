"""SQL for the API's writes: one movie by id (admin), and the movie-upsert by TMDB id reuses catalogue.py."""

# A content change gives a new content_hash; clearing embedded_hash marks the movie stale while
# its old vector keeps serving queries until the new one is written.
UPDATE_MOVIE = """
UPDATE movies AS m SET
    tmdb_id = $2, imdb_id = $3, title = $4, year = $5, overview = $6, genres = $7, keywords = $8,
    cast_members = $9, director = $10, vote_average = $11, vote_count = $12, popularity = $13,
    poster_url = $14, content_hash = $15, updated_at = now(),
    embedded_hash = CASE WHEN m.content_hash = $15 THEN m.embedded_hash END,
    embedded_at = CASE WHEN m.content_hash = $15 THEN m.embedded_at END
WHERE m.id = $1
RETURNING m.id, (m.embedded_hash IS NULL) AS needs_embedding
"""

INSERT_MOVIE = """
INSERT INTO movies (source, source_key, tmdb_id, imdb_id, title, year, overview, genres, keywords, cast_members,
                    director, vote_average, vote_count, popularity, poster_url, content_hash)
VALUES ('api', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING id, true AS needs_embedding
"""

MOVIE_ID_BY_TMDB_ID = "SELECT id FROM movies WHERE tmdb_id = $1"
