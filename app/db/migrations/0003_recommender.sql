-- The collaborative model: each training's audit row, the item-item weights it learned, and which
-- model serves (one row: the active model and the previous one, kept for rollback).
CREATE TABLE recommender_models (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    method       text NOT NULL,
    status       text NOT NULL DEFAULT 'training'
                 CHECK (status IN ('training', 'ready', 'failed', 'interrupted')),
    trigger      text NOT NULL,
    job_id       text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    ratings      integer,
    users        integer,
    movies       integer,
    weights      integer,
    seconds      real,
    peak_rss_mb  real,
    params       jsonb NOT NULL DEFAULT '{}',
    -- The most-rated movies when it was trained: the popular candidates of the hybrid.
    popular_ids  bigint[] NOT NULL DEFAULT '{}',
    error        text
);

CREATE TABLE movie_neighbors (
    model_id     bigint NOT NULL REFERENCES recommender_models (id) ON DELETE CASCADE,
    movie_id     bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    neighbor_id  bigint NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    weight       real NOT NULL,
    -- INCLUDE: a user's score reads each rated film's neighbours with index-only scans.
    PRIMARY KEY (model_id, movie_id, neighbor_id) INCLUDE (weight)
);
-- "Which rated films push this one up" (explanations) reads by neighbour.
CREATE INDEX movie_neighbors_neighbor_idx ON movie_neighbors (model_id, neighbor_id);

CREATE TABLE recommender_state (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    active_model_id    bigint REFERENCES recommender_models (id),
    previous_model_id  bigint REFERENCES recommender_models (id),
    published_at       timestamptz
);
INSERT INTO recommender_state DEFAULT VALUES;
