-- Each movie's rating count and sum, kept by statement-level triggers on ratings, so reading a
-- movie's popularity is one primary-key look-up instead of counting its ratings.
CREATE TABLE movie_rating_stats (
    movie_id    bigint PRIMARY KEY REFERENCES movies (id) ON DELETE CASCADE,
    ratings     bigint NOT NULL DEFAULT 0,
    rating_sum  numeric NOT NULL DEFAULT 0
);

INSERT INTO movie_rating_stats (movie_id, ratings, rating_sum)
SELECT movie_id, count(*), sum(rating) FROM ratings GROUP BY movie_id;

CREATE FUNCTION movie_rating_stats_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One upsert per statement: a batch import of thousands of ratings touches each movie once.
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO movie_rating_stats AS s (movie_id, ratings, rating_sum)
        SELECT movie_id, count(*), sum(rating) FROM new_rows GROUP BY movie_id
        ON CONFLICT (movie_id) DO UPDATE
            SET ratings = s.ratings + excluded.ratings, rating_sum = s.rating_sum + excluded.rating_sum;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE movie_rating_stats AS s
        SET ratings = s.ratings - o.n, rating_sum = s.rating_sum - o.total
        FROM (SELECT movie_id, count(*) AS n, sum(rating) AS total FROM old_rows GROUP BY movie_id) AS o
        WHERE s.movie_id = o.movie_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ratings_stats_insert AFTER INSERT ON ratings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION movie_rating_stats_apply();
CREATE TRIGGER ratings_stats_update AFTER UPDATE ON ratings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION movie_rating_stats_apply();
CREATE TRIGGER ratings_stats_delete AFTER DELETE ON ratings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION movie_rating_stats_apply();
