"""Background jobs (arq workers on Redis) that keep embeddings fresh."""
