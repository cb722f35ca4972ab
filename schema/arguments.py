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


def job_id(value: strawberry.ID | str) -> str:
    """A queue job id as the API hands them out (`refresh-embeddings`): short, plain, or BAD_USER_INPUT."""
    text = str(value)
    if not 0 < len(text) <= 100 or not text.isascii() or not all(ch.isalnum() or ch in "-_:." for ch in text):
        raise BadUserInput(f"{text[:40]!r} is not a job id")
    return text
