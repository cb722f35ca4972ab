"""What an operation may cost, checked before validation in time linear in the document.

graphql-core's own rules and Strawberry's depth and alias limiters walk every expanded path: a 1 KB
document whose fragments each spread the next one twice expands to 2^30 paths. Here each fragment is
measured once (memoised) and its figures are multiplied by how often it is spread, so the check costs
one pass over the document, whatever it expands to. A document over a limit is refused before any
other rule or resolver runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast_untyped,
)

MAX_DEPTH = 8
MAX_ALIASES = 15
# Budgets per operation: anonymous < signed in < admin.
BUDGETS = {"anonymous": 2_000, "user": 5_000, "admin": 60_000}
# What one field costs before its children; the rest cost 1. k-NN, encoding and batches cost more.
FIELD_COSTS = {
    "similarMovies": 10,
    "recommendations": 25,
    "recommendationsForMovies": 20,
    "recommendationsForUsers": 25,
    "explainRecommendation": 15,
    "searchMovies": 40,
    "movies": 5,
    "genres": 5,
    "stats": 10,
    "alsoLiked": 5,
    "embeddingRuns": 5,
    "recommenderModels": 5,
    "refreshEmbeddings": 10,
    "rebuildVectorIndex": 10,
    "health": 10,
    "trainRecommender": 10,
    "upsertMovie": 10,
}
# How many items a list field may return: its `limit`/`first` argument, else this (e.g. a user's ratings).
UNBOUNDED_LIST = 100
LIST_SIZE_ARGUMENTS = ("limit", "first")
# List arguments whose length multiplies the work (one k-NN per example, a list per user).
PER_ITEM_ARGUMENTS = {"positive": 5, "negative": 5, "excludeIds": 0}
BATCH_ARGUMENTS = ("userIds",)
# A page deep in a list ranks everything before it too: one unit per this many skipped items.
OFFSET_ITEMS_PER_UNIT = 20
# Lists with no size argument of their own (`items` and `nodes` are sized by their parent's limit).
LIST_FIELDS = {"ratings", "similarToYourFavorites", "peopleAlsoLiked", "recommenderModels", "embeddingRuns"}


@dataclass(frozen=True)
class Measure:
    """An operation's (or a fragment's) depth, aliases and cost."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0


class TooComplex(Exception):
    """A fragment spreads itself (graphql-core reports it too; this stops the walk)."""


class _Walk:
    """One pass over a document: fragments measured once each."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]) -> None:
        self.fragments, self.variables = fragments, variables
        self.memo: dict[str, Measure] = {}
        self.visiting: set[str] = set()
        self.read: set[str] = set()  # the variables the figures depend on

    def selection_set(self, node: SelectionSetNode | None) -> Measure:
        if node is None:
            return Measure()
        depth = aliases = cost = 0
        for selection in node.selections:
            found = self.selection(selection)
            depth, aliases, cost = max(depth, found.depth), aliases + found.aliases, cost + found.cost
        return Measure(depth, aliases, cost)

    def selection(self, node: Any) -> Measure:
        if isinstance(node, FieldNode):
            return self.field(node)
        if isinstance(node, InlineFragmentNode):
            return self.selection_set(node.selection_set)
        if isinstance(node, FragmentSpreadNode):
            return self.fragment(node.name.value)  # the memo: a fragment spread 2^30 times is measured once
        return Measure()

    def fragment(self, name: str) -> Measure:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None:
            return Measure()  # unknown fragments are graphql-core's to report
        if name in self.visiting:
            raise TooComplex(f"fragment {name} spreads itself")
        self.visiting.add(name)
        self.memo[name] = self.selection_set(definition.selection_set)
        self.visiting.discard(name)
        return self.memo[name]

    def field(self, node: FieldNode) -> Measure:
        name = node.name.value
        if name.startswith("__"):
            return Measure(cost=1)  # introspection (off in production): graphql-depth-limit skips it too
        children = self.selection_set(node.selection_set)
        size = self.list_size(node)
        base = FIELD_COSTS.get(name, 1)
        arguments = node.arguments or ()
        for argument in arguments:
            weight = PER_ITEM_ARGUMENTS.get(argument.name.value)
            if weight:
                base += weight * self.length(argument.value)
            if argument.name.value == "offset":
                base += self.integer(argument.value) // OFFSET_ITEMS_PER_UNIT
        batch = max((self.length(a.value) for a in arguments if a.name.value in BATCH_ARGUMENTS), default=1)
        return Measure(
            # graphql-depth-limit's count: a leaf adds no level, a field with a selection one.
            depth=children.depth + 1 if node.selection_set else 0,
            aliases=children.aliases + (1 if node.alias else 0),
            cost=batch * (base + size * children.cost),
        )

    def list_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in LIST_SIZE_ARGUMENTS:
                return max(1, min(self.integer(argument.value), UNBOUNDED_LIST))
        return UNBOUNDED_LIST if node.name.value in LIST_FIELDS else 1

    def value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            self.read.add(node.name.value)
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value) if len(node.value) < 10 else UNBOUNDED_LIST
        if isinstance(node, ListValueNode):
            return list(node.values)
        return None

    def integer(self, node: Any) -> int:
        value = self.value(node)
        return value if isinstance(value, int) and not isinstance(value, bool) else UNBOUNDED_LIST

    def length(self, node: Any) -> int:
        value = self.value(node)
        return len(value) if isinstance(value, list) else 1


def _with_defaults(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The sent variables, and the defaults the operation declares for the others (`$limit: Int = 10`)."""
    declared = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    return {**declared, **variables}


def measure_and_reads(
    document: Any, operation_name: str | None, variables: Mapping[str, Any] | None
) -> tuple[Measure, frozenset[str]]:
    """The figures of the operation that would run (every operation when none is named), and the
    variables they read: the same figures follow from the same values of those."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    walks = [_Walk(fragments, _with_defaults(o, variables or {})) for o in chosen]
    figures = [walk.selection_set(o.selection_set) for walk, o in zip(walks, chosen, strict=True)]
    measured = Measure(
        depth=max((f.depth for f in figures), default=0),
        aliases=max((f.aliases for f in figures), default=0),
        cost=max((f.cost for f in figures), default=0),
    )
    return measured, frozenset().union(*(walk.read for walk in walks))


def measure(document: Any, operation_name: str | None, variables: Mapping[str, Any] | None) -> Measure:
    """The figures of the operation that would run (every operation when none is named)."""
    return measure_and_reads(document, operation_name, variables)[0]


def mutation_fields(document: Any, operation_name: str | None) -> list[str]:
    """The response keys a mutation would run, through fragments (empty for a query).

    A mutation's fields are non-null: when a second one fails, the answer is `data: null` although
    the first one wrote, and the caller cannot tell. One write per request keeps every answer true.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    keys: dict[str, None] = {}  # ordered, and the same key twice is one field (graphql-core merges them)
    seen: set[str] = set()

    def walk(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):  # __typename writes nothing
                    keys[(selection.alias or selection.name).value] = None
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                definition = fragments.get(selection.name.value)
                walk(definition.selection_set if definition else None)

    for operation in document.definitions:
        if (
            isinstance(operation, OperationDefinitionNode)
            and operation.operation.value == "mutation"
            and (operation_name is None or (operation.name and operation.name.value == operation_name))
        ):
            walk(operation.selection_set)
    return list(keys)
