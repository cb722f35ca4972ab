"""The part of an operation's checks that its document text alone decides, kept per text.

A client sends the same few documents again and again with new variables. The strings written in a
document, the mutation fields it runs, whether a fragment spreads itself and which variables its cost
reads are the same every time; so is its cost for the same values of those variables (a `limit`, the
length of a list), whatever the other variables hold (a movie's id, a search text). Each request
still checks its own variables' strings. Texts over CACHED_TEXT characters are checked afresh each
time: a cache of them would hold their memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, parse
from strawberry.extensions import ParserCache

from schema.cost import Measure, TooComplex, measure_and_reads, mutation_fields
from schema.strings import document_problem

CACHED_TEXT = 20_000
MAX_DOCUMENTS = 256
MAX_COSTS_PER_DOCUMENT = 32
_MISSING = object()  # a variable not sent: the operation's default, fixed by its text
_CACHE: OrderedDict[tuple[str, str | None], DocumentChecks] = OrderedDict()


def _shape(value: Any) -> Any:
    """What the cost reads of a variable's value: an integer, a list's length, or nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ("int", value)
    if isinstance(value, list):
        return ("list", len(value))
    return None


@dataclass
class DocumentChecks:
    """One document text and operation name: what it decides, and its costs by what they read."""

    strings: str | None
    writes: list[str]
    too_complex: str | None
    reads: tuple[str, ...]
    costs: OrderedDict[tuple[Any, ...], Measure] = field(default_factory=OrderedDict)

    @classmethod
    def of(cls, document: DocumentNode, operation_name: str | None) -> DocumentChecks:
        """Walk the document once for everything its text decides."""
        try:
            _, reads = measure_and_reads(document, operation_name, {})
            too_complex = None
        except TooComplex as error:
            reads, too_complex = frozenset(), str(error)
        writes = mutation_fields(document, operation_name)
        return cls(document_problem(document), writes, too_complex, tuple(sorted(reads)))

    def cost(self, document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]) -> Measure:
        """The operation's figures for these variables, measured once per shape of the ones it reads."""
        key = tuple(_shape(variables[name]) if name in variables else _MISSING for name in self.reads)
        figures = self.costs.get(key)
        if figures is not None:
            self.costs.move_to_end(key)  # least recently used goes first, as in the texts' cache
            return figures
        figures, _ = measure_and_reads(document, operation_name, variables)
        self.costs[key] = figures
        if len(self.costs) > MAX_COSTS_PER_DOCUMENT:
            self.costs.popitem(last=False)
        return figures


def document_checks(text: str | None, document: DocumentNode, operation_name: str | None) -> DocumentChecks:
    """The checks of this document text, from the cache when it has been seen (and is short enough)."""
    if text is None or len(text) > CACHED_TEXT:
        return DocumentChecks.of(document, operation_name)
    key = (text, operation_name)
    found = _CACHE.get(key)
    if found is not None:
        _CACHE.move_to_end(key)
        return found
    checks = _CACHE[key] = DocumentChecks.of(document, operation_name)
    if len(_CACHE) > MAX_DOCUMENTS:
        _CACHE.popitem(last=False)
    return checks


def cached_documents() -> int:
    """How many document texts the cache holds (for tests)."""
    return len(_CACHE)


class ShortTextParserCache(ParserCache):
    """Strawberry's parse cache for texts up to CACHED_TEXT characters; longer ones are parsed each time."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and len(context.query) > CACHED_TEXT:
            context.graphql_document = parse(context.query, **context.parse_options)
            yield
            return
        yield from super().on_parse()
