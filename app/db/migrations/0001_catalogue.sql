-- The catalogue, its users and ratings, and the audit trail of embedding runs.
-- ${dimension} is the configured model's embedding dimension, substituted as an integer.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE movies (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tmdb_id        integer UNIQUE CHECK (tmdb_id > 0),
    imdb_id        text UNIQUE CHECK (imdb_id ~ '^tt[0-9]+$'),
    source         text,
    source_key     text,
    title          text NOT NULL CHECK (btrim(title) <> ''),
    year           smallint CHECK (year BETWEEN 1870 AND 2100),
    overview       text NOT NULL DEFAULT '',
    genres         text[] NOT NULL DEFAULT '{}',
    keywords       text[] NOT NULL DEFAULT '{}',
    cast_members   text[] NOT NULL DEFAULT '{}',
    director       text,
    vote_average   real CHECK (vote_average BETWEEN 0 AND 10),
    vote_count     integer CHECK (vote_count >= 0),
    popularity     real CHECK (popularity >= 0),
    poster_url     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- sha256 of the text the embedding recipe builds from the columns above.
    content_hash   text NOT NULL,
    embedding      vector(${dimension}),
    embedding_model text,
    -- content_hash of the text `embedding` was computed from: stale when it differs.
    embedded_hash  text,
    embedded_at    timestamptz,
    UNIQUE (source, source_key),
    CHECK ((source IS NULL) = (source_key IS NULL))
);

CREATE INDEX movies_title_lower_idx ON movies (lower(title));
CREATE INDEX movies_year_idx ON movies (year);
CREATE INDEX movies_genres_idx ON movies USING gin (genres);

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    source      text,
    source_key  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, source_key)
);

CREATE TABLE ratings (
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    movie_id    bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    rating      numeric(2, 1) NOT NULL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = trunc(rating * 2)),
    rated_at    timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, movie_id)
);
CREATE INDEX ratings_movie_idx ON ratings (movie_id);

CREATE TABLE embedding_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger     text NOT NULL,
    model       text NOT NULL,
    full_run    boolean NOT NULL DEFAULT false,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    embedded    integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    title_only  integer NOT NULL DEFAULT 0,
    error       text
);
