-- Without pgvector (a server that does not offer it): embeddings are stored as real[] under a domain
-- named `vector`, so the schema and every statement keep their text. Nearest-neighbour searches run in
-- the API process (app/search/memory.py); the few statements that compare vectors in SQL (a taste
-- profile's similarity to a pool of candidates, an explanation's evidence) use these exact, unindexed
-- versions of pgvector's operators. `movierec migrate` converts them once pgvector is installed.
CREATE DOMAIN vector AS real[];

CREATE FUNCTION movierec_dot(a real[], b real[]) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (SELECT sum(x::float8 * y) FROM unnest(a, b) AS t(x, y));

CREATE FUNCTION movierec_cosine_distance(a real[], b real[]) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN 1 - movierec_dot(a, b) / nullif(sqrt(movierec_dot(a, a) * movierec_dot(b, b)), 0);

CREATE FUNCTION movierec_negative_inner_product(a real[], b real[]) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN -movierec_dot(a, b);

CREATE FUNCTION movierec_l2_distance(a real[], b real[]) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (SELECT sqrt(sum((x::float8 - y) ^ 2)) FROM unnest(a, b) AS t(x, y));

CREATE OPERATOR <=> (LEFTARG = real[], RIGHTARG = real[], FUNCTION = movierec_cosine_distance);
CREATE OPERATOR <#> (LEFTARG = real[], RIGHTARG = real[], FUNCTION = movierec_negative_inner_product);
CREATE OPERATOR <-> (LEFTARG = real[], RIGHTARG = real[], FUNCTION = movierec_l2_distance);

-- sum(vector) as pgvector has it: element-wise.
CREATE FUNCTION movierec_vector_add(a real[], b real[]) RETURNS real[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
                ELSE ARRAY(SELECT x + y FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i) ORDER BY i) END;

CREATE AGGREGATE sum(vector) (SFUNC = movierec_vector_add, STYPE = real[]);

-- avg(vector) as pgvector has it: the running sum carries the count as a last element.
CREATE FUNCTION movierec_vector_accumulate(s real[], v real[]) RETURNS real[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN v IS NULL THEN s WHEN s IS NULL THEN v || 1::real ELSE movierec_vector_add(s, v || 1::real) END;

CREATE FUNCTION movierec_vector_mean(s real[]) RETURNS real[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN ARRAY(SELECT x / s[array_length(s, 1)]
                 FROM unnest(s[1:array_length(s, 1) - 1]) WITH ORDINALITY AS t(x, i) ORDER BY i);

CREATE AGGREGATE avg(vector) (SFUNC = movierec_vector_accumulate, STYPE = real[], FINALFUNC = movierec_vector_mean);
