"""SQL for the vector index: introspection, concurrent builds, swaps."""

DESCRIBE_INDEX = """
SELECT c.relname AS name, am.amname AS method, opc.opcname AS opclass, i.indisvalid AS valid,
       pg_relation_size(c.oid) AS size_bytes, coalesce(c.reloptions, '{}') AS options
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE i.indrelid = to_regclass('movies') AND c.relname = ANY($1::text[])
ORDER BY c.relname
"""

COUNT_EMBEDDED = "SELECT count(*) FROM movies WHERE embedding IS NOT NULL"

# Index names and parameters are identifiers and literals PostgreSQL cannot bind; the caller
# formats them from a fixed allow-list and validated integers only.
CREATE_HNSW = """
CREATE INDEX CONCURRENTLY {name} ON movies USING hnsw (embedding {opclass})
WITH (m = {m}, ef_construction = {ef_construction})
"""

CREATE_IVFFLAT = """
CREATE INDEX CONCURRENTLY {name} ON movies USING ivfflat (embedding {opclass}) WITH (lists = {lists})
"""

DROP_INDEX = "DROP INDEX CONCURRENTLY IF EXISTS {name}"
RENAME_INDEX = "ALTER INDEX {old} RENAME TO {new}"
ANALYZE_MOVIES = "ANALYZE movies"

# Building HNSW is memory-hungry; give this one session room so the graph fits in memory.
BUILD_MEMORY = "SET maintenance_work_mem = '1GB'"
