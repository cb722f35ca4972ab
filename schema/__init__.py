"""The GraphQL schema (Strawberry): thin resolvers over app/."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig

from schema.document_checks import ShortTextParserCache
from schema.errors import StableErrors
from schema.limits import OperationLimits
from schema.mutation import Mutation
from schema.query import Query

MAX_TOKENS = 2000


class _QuietSchema(strawberry.Schema):
    """StableErrors logs what matters; expected errors are not server faults."""

    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        return None


def build_schema(*, production: bool = False) -> strawberry.Schema:
    """The schema with its limits, caches and error handling; no introspection in production."""
    # Factories, not instances: every operation gets its own extension objects. OperationLimits
    # measures depth, aliases and cost in one pass over the document, whatever its fragments expand
    # to, and only a document within the limits reaches graphql-core's (cached) validation.
    # (ParserCache and ValidationCache keep their LRU caches at module level, so a new extension
    # object per operation still hits them; sharing one object would share its execution_context.
    # Documents over document_checks.CACHED_TEXT characters are parsed and validated afresh instead:
    # 256 cached texts of up to a megabyte each would hold their memory.)
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        StableErrors,
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(ShortTextParserCache, maxsize=256),
        partial(OperationLimits, maxsize=256),
    ]
    if production:
        extensions.append(DisableIntrospection)
    return _QuietSchema(query=Query, mutation=Mutation, extensions=extensions, config=StrawberryConfig())
