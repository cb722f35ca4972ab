"""The GraphQL schema (Strawberry): thin resolvers over app/."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from schema.errors import StableErrors
from schema.mutation import Mutation
from schema.query import Query

MAX_DEPTH = 8
MAX_TOKENS = 2000
MAX_ALIASES = 15


class _QuietSchema(strawberry.Schema):
    """StableErrors logs what matters; expected errors are not server faults."""

    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        return None


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """The schema with its limits, caches and error handling; no introspection in production."""
    # Factories, not instances: every operation gets its own extension objects. The validation
    # rules are built once, so ValidationCache (keyed by document and rules) hits on repeats.
    parser_cache, validation_cache = ParserCache(maxsize=256), ValidationCache(maxsize=256)
    limits = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        StableErrors,
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(AddValidationRules, limits),
        lambda: parser_cache,
        lambda: validation_cache,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return _QuietSchema(query=Query, mutation=Mutation, extensions=extensions, config=StrawberryConfig())
