"""The demo catalogue shipped with movierec (movies.jsonl, users.json)."""
