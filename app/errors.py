"""Expected failures, each with a stable code the API exposes as `extensions.code`."""

from __future__ import annotations


class AppError(Exception):
    """An expected error whose message is safe to show to the caller."""

    code = "INTERNAL_SERVER_ERROR"


class BadUserInput(AppError):
    """The arguments are invalid (out of range, malformed, inconsistent)."""

    code = "BAD_USER_INPUT"


class NotFound(AppError):
    """A referenced movie or user does not exist."""

    code = "NOT_FOUND"


class Unauthenticated(AppError):
    """The operation needs a valid token and there is none (or it is invalid or expired)."""

    code = "UNAUTHENTICATED"


class Forbidden(AppError):
    """The caller is known but may not do this."""

    code = "FORBIDDEN"


class Unavailable(AppError):
    """A dependency (database, queue, model) cannot serve the request right now."""

    code = "UNAVAILABLE"


def check_limit(limit: int, *, name: str = "limit", maximum: int = 100) -> int:
    """A page or result size between 1 and `maximum`."""
    if not 1 <= limit <= maximum:
        raise BadUserInput(f"{name} must be between 1 and {maximum}, got {limit}")
    return limit


# Lists page this deep: each page re-ranks offset + limit + 1 films, so a page's cost stays bounded.
MAX_OFFSET = 400


def check_page(limit: int, offset: int) -> None:
    """A page of 1..100 results starting at most MAX_OFFSET deep."""
    check_limit(limit)
    if not 0 <= offset <= MAX_OFFSET:
        raise BadUserInput(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")
