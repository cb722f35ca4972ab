"""SQL for migrations and schema introspection."""

# An arbitrary, fixed key: every `movierec migrate` (and resize) serialises on it.
MIGRATION_LOCK_KEY = 7_361_044_201

TAKE_MIGRATION_LOCK = "SELECT pg_advisory_lock($1)"
RELEASE_MIGRATION_LOCK = "SELECT pg_advisory_unlock($1)"

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""

APPLIED_VERSIONS = "SELECT version FROM schema_migrations ORDER BY version"

RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"

MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"

# format_type shows the typmod (vector(384)); information_schema hides it as USER-DEFINED.
EMBEDDING_COLUMN_TYPE = """
SELECT format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass('movies') AND a.attname = 'embedding' AND NOT a.attisdropped
"""

VECTOR_EXTENSION_VERSION = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"

# The column keeps its name; every vector is dropped because it has the wrong length.
RESIZE_EMBEDDING_COLUMN = """
ALTER TABLE movies
    ALTER COLUMN embedding TYPE vector({dimension}) USING NULL
"""

CLEAR_EMBEDDING_STATE = """
UPDATE movies SET embedding_model = NULL, embedded_hash = NULL, embedded_at = NULL
"""
