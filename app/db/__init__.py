"""The database: connections (embedded or configured PostgreSQL) and versioned migrations."""
