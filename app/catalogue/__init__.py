"""The catalogue: movies, users and ratings, the importers that fill it and the demo data."""
