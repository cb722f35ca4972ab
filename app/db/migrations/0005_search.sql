-- Hybrid search: full-text and trigram indexes beside the vectors, passage vectors for plot search,
-- case-insensitive genres, and the thin-record flag.
-- Adding the generated columns rewrites the table and rebuilds its indexes, the HNSW one included:
-- give the build room (PostgreSQL's default of 64MB makes a 36,000-film HNSW rebuild take minutes).
SET LOCAL maintenance_work_mem = '512MB';
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is STABLE (its dictionary could change); pinning the dictionary makes it safe to
-- index, which is how PostgreSQL's documentation suggests using it in expression indexes.
CREATE FUNCTION movierec_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(unaccent('unaccent'::regdictionary, $1));

CREATE FUNCTION movierec_fold_all(text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN ARRAY(SELECT movierec_fold(g) FROM unnest($1) AS g);

-- Weighted so a title hit outranks a name hit, which outranks a keyword, which outranks the overview
-- (Wikipedia leads name the director and stars there too, at the lowest weight). One text search
-- configuration throughout: a query is parsed once, so names must be stemmed as the query's words are.
CREATE FUNCTION movierec_search_document(
    title text, director text, cast_members text[], keywords text[], genres text[], overview text
) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('english', movierec_fold(title)), 'A')
        || setweight(to_tsvector('english', movierec_fold(coalesce(director, '') || ' '
                                                        || array_to_string(cast_members, ' '))), 'B')
        || setweight(to_tsvector('english', movierec_fold(array_to_string(keywords, ' ') || ' '
                                                         || array_to_string(genres, ' '))), 'C')
        || setweight(to_tsvector('english', movierec_fold(overview)), 'D');

ALTER TABLE movies
    -- Written by the embedding pipeline with the film's vector (not generated: an insert would pay
    -- for four text searches' parsing, the largest share of an import). Words, like meaning, follow
    -- a change once the worker has run; the title's trigrams (title_folded) follow at once.
    ADD COLUMN search_document tsvector,
    ADD COLUMN genre_keys text[] GENERATED ALWAYS AS (movierec_fold_all(genres)) STORED,
    -- Stored so a trigram search rechecks candidates without folding each title again.
    ADD COLUMN title_folded text GENERATED ALWAYS AS (movierec_fold(title)) STORED,
    -- A film described by nothing but its title: its vector is little more than the title's words.
    ADD COLUMN has_overview boolean GENERATED ALWAYS AS (btrim(overview) <> '') STORED;

UPDATE movies SET search_document = movierec_search_document(title, director, cast_members, keywords, genres, overview)
WHERE embedding IS NOT NULL;
CREATE INDEX movies_search_document_idx ON movies USING gin (search_document);
CREATE INDEX movies_title_trgm_idx ON movies USING gin (title_folded gin_trgm_ops);
DROP INDEX movies_genres_idx;
CREATE INDEX movies_genre_keys_idx ON movies USING gin (genre_keys);

-- What meaning search reads: each film's vector again as passage 0, then a vector per overview
-- sentence (1..8): a plot sentence is found even when the rest of the text is credits, and one
-- HNSW scan covers films and sentences alike. Written with the film's vector, by the same run.
CREATE TABLE movie_passages (
    movie_id   bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    ordinal    smallint NOT NULL CHECK (ordinal >= 0),
    embedding  vector(${dimension}) NOT NULL,
    PRIMARY KEY (movie_id, ordinal)
);
CREATE INDEX movie_passages_embedding_idx ON movie_passages USING hnsw (embedding vector_cosine_ops);

-- The embedding recipe the stored content hashes were computed with: when the code's recipe
-- changes, the next embedding run recomputes them, and what changed is re-embedded.
CREATE TABLE embedding_recipe (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version   text NOT NULL
);
INSERT INTO embedding_recipe (version) VALUES ('1');
