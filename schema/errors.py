"""Errors as clients see them: expected ones keep their message and a stable code; the rest are masked."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from app.db.connections import DATABASE_UNAVAILABLE
from app.errors import AppError

log = logging.getLogger("movierec.graphql")


class StableErrors(MaskErrors):
    """Every error gets `extensions.code`; unexpected ones become "Unexpected error." with a request id."""

    def __init__(self) -> None:
        super().__init__(error_message="Unexpected error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        return [self._process(error, request_id) for error in errors]

    def _process(self, error: GraphQLError, request_id: str | None) -> GraphQLError:
        original = error.original_error
        if isinstance(original, AppError):
            return _with_extensions(error, {"code": original.code})
        if isinstance(original, DATABASE_UNAVAILABLE):
            log.warning("database unavailable in request %s: %s", request_id, type(original).__name__)
            message = "the database is unavailable or too slow right now; try again shortly"
            return _with_extensions(error, {"code": "UNAVAILABLE", "requestId": request_id}, message)
        if (error.extensions or {}).get("code"):
            return error  # permission errors carry their own code
        if isinstance(original, GraphQLError):
            # A variable that cannot be coerced (NaN, infinity, a string for a Float): the caller's input.
            return _with_extensions(error, {"code": "BAD_USER_INPUT"})
        if original is None:
            # Syntax and validation errors: safe to show as they are.
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
            return error
        log.error("unexpected error in request %s at %s", request_id, error.path, exc_info=original)
        return _with_extensions(error, {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}, self.error_message)


def _with_extensions(error: GraphQLError, extensions: dict[str, object], message: str | None = None) -> GraphQLError:
    """The same error (place, path) with another message or extensions, and no original error."""
    return GraphQLError(
        message or error.message, error.nodes, error.source, error.positions, error.path, extensions=extensions
    )
