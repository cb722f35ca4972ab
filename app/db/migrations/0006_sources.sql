-- One record per film: every source key that names a film, and the title key importers match on.
CREATE TABLE movie_sources (
    source      text NOT NULL,
    source_key  text NOT NULL,
    movie_id    bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_key)
);
CREATE INDEX movie_sources_movie_idx ON movie_sources (movie_id);

INSERT INTO movie_sources (source, source_key, movie_id)
SELECT source, source_key, id FROM movies WHERE source IS NOT NULL;

-- "The Matrix", "Matrix, The" and "the matrix!" share a key; so do "Marley & Me" and "Marley and Me".
CREATE FUNCTION movierec_title_key(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN regexp_replace(
        regexp_replace(
            regexp_replace(replace(movierec_fold($1), '&', ' and '), ',\s*(the|a|an)$', ''),
            '^(the|a|an)\s+', ''),
        '[^a-z0-9]+', '', 'g');

CREATE INDEX movies_title_key_idx ON movies (movierec_title_key(title), year);
