"""Importers: Wikipedia movie JSON, TMDB 5000 CSV, MovieLens ratings and the demo catalogue."""
