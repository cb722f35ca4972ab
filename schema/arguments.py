"""Argument checks shared by resolvers and permissions: GraphQL IDs as database ids."""

from __future__ import annotations

import strawberry

from app.errors import BadUserInput


def parse_id(value: strawberry.ID | str, what: str = "id") -> int:
    """A GraphQL ID as a positive integer, or BAD_USER_INPUT."""
    text = str(value).strip()
    # ASCII only: str.isdigit() also accepts "²" and "١"; 18 digits always fit PostgreSQL's bigint.
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) <= 0:
        raise BadUserInput(f"{what} {str(value)[:40]!r} is not a valid id")
    return int(text)
