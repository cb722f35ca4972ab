"""`python -m schema` prints the SDL (committed as schema.graphql for clients to generate types from)."""

from schema import build_schema

print(build_schema().as_str())
