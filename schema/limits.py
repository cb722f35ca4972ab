"""The operation limits extension: strings, depth, aliases, cost and one mutation per request, before validation.

The figures come from schema/cost.py (one pass over the document), and what a document's text alone
decides is kept per text (schema/document_checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import ValidationCache
from strawberry.schema.schema import validate_document

from schema.cost import BUDGETS, MAX_ALIASES, MAX_DEPTH, Measure
from schema.document_checks import CACHED_TEXT, document_checks
from schema.strings import variables_problem


def limit_errors(figures: Measure, budget: int) -> list[str]:
    """What is over a limit, in words."""
    problems = []
    if figures.depth > MAX_DEPTH:
        problems.append(f"the query is {figures.depth} levels deep; the limit is {MAX_DEPTH}")
    if figures.aliases > MAX_ALIASES:
        problems.append(f"the query uses {figures.aliases} aliases; the limit is {MAX_ALIASES}")
    if figures.cost > budget:
        problems.append(f"the query would cost {figures.cost}; the budget for this caller is {budget}")
    return problems


class OperationLimits(ValidationCache):
    """Refuse bad strings and operations over the depth, alias or cost limits; validate (cached) only the rest."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        error = self._check(document) if document is not None else None
        if error is not None:
            context.pre_execution_errors = [error]
        elif document is not None and context.query is not None and len(context.query) > CACHED_TEXT:
            # Not kept in the cache (see schema/document_checks.py).
            context.pre_execution_errors = validate_document(context.schema._schema, document, context.validation_rules)
        else:
            yield from super().on_validate()  # graphql-core's rules, with results cached by document
            return
        yield

    def _check(self, document: Any) -> GraphQLError | None:
        context = self.execution_context
        checks = document_checks(context.query, document, context.operation_name)
        problem = variables_problem(context.variables) or checks.strings
        if problem is not None:
            return GraphQLError(problem, extensions={"code": "BAD_USER_INPUT"})
        if checks.too_complex is not None:
            return GraphQLError(checks.too_complex, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
        figures = checks.cost(document, context.operation_name, context.variables or {})
        problems = limit_errors(figures, BUDGETS[_caller(context.context)])
        writes = checks.writes
        if len(writes) > 1:
            problems.append(
                f"one mutation per request: this one runs {len(writes)} ({', '.join(writes[:5])}); "
                "send each in its own request"
            )
        if not problems:
            return None
        return GraphQLError("; ".join(problems), extensions={"code": "GRAPHQL_VALIDATION_FAILED"})


def _caller(context: Any) -> str:
    """anonymous, user or admin, from the request's token (a bad token counts as anonymous here)."""
    try:
        viewer = context.viewer
    except Exception:  # UNAUTHENTICATED is reported by the fields that need a viewer
        return "anonymous"
    if viewer is None:
        return "anonymous"
    return "admin" if viewer.is_admin else "user"
