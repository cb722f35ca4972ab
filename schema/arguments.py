"""Argument checks shared by resolvers and permissions: GraphQL IDs as database ids."""

from __future__ import annotations

import strawberry

from app.errors import BadUserInput


def parse_id(value: strawberry.ID | str, what: str = "id") -> int:
    """A GraphQL ID as a positive integer, or BAD_USER_INPUT."""
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0 or len(text) > 18:
        raise BadUserInput(f"{what} {value!r} is not a valid id")
    return int(text)
