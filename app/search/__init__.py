"""Nearest-neighbour search over the movie vectors: filters, queries and the vector index."""
