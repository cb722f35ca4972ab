-- Embedding generations: which model made the vectors in each slot. The serving vectors are the
-- `active` slot (movies.embedding, movie_passages); a new model is backfilled into the `next` slot
-- (movies.next_embedding, movie_passages_next) while the active one serves, then one transaction
-- renames next to active and active to `previous`, kept for a rollback until pruned
-- (app/embeddings/generations.py).
CREATE TABLE embedding_generations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Deferred: a switch moves two generations between slots in one statement.
    slot         text UNIQUE DEFERRABLE INITIALLY DEFERRED CHECK (slot IN ('active', 'next', 'previous')),
    -- As stored beside each vector: the model, and `+<encoder>` for a backend other than torch.
    model        text NOT NULL,
    -- What MOVIEREC_MODEL said: a sentence-transformers name or a model directory.
    source       text NOT NULL,
    encoder      text NOT NULL,
    dimension    integer NOT NULL CHECK (dimension > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz
);

-- The serving generation: the model that made most stored vectors, else the configured one.
WITH made AS (
    SELECT coalesce(
        (SELECT mode() WITHIN GROUP (ORDER BY embedding_model) FROM movies WHERE embedding IS NOT NULL),
        ${model}
    ) AS model
)
INSERT INTO embedding_generations (slot, model, source, encoder, dimension, activated_at)
SELECT 'active', model, split_part(model, '+', 1), coalesce(nullif(split_part(model, '+', 2), ''), 'torch'),
       ${dimension}, now()
FROM made;
