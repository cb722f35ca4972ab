"""Every string an operation carries, in variables or in the document: valid Unicode, no NUL, bounded.

PostgreSQL refuses NUL bytes and the driver cannot encode lone surrogates; either would surface as a
server error deep in a resolver. Checking before execution turns them into BAD_USER_INPUT naming the
argument or variable. Per-field lengths (titles, searches, names) are checked where the values are
used; this cap only keeps any single string from being huge. (graphql-core does not allow redefining
the String scalar, so this is a pass over the operation instead.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    Visitor,
    visit,
)

MAX_STRING = 100_000


def text_problem(value: str) -> str | None:
    """Why a string is refused, or None."""
    if len(value) > MAX_STRING:
        return f"is longer than {MAX_STRING:,} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def _in_value(value: Any) -> str | None:
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, Mapping):
        return next((p for v in value.values() if (p := _in_value(v))), None)
    if isinstance(value, list):
        return next((p for v in value if (p := _in_value(v))), None)
    return None


def _in_node(node: Any) -> str | None:
    if isinstance(node, StringValueNode):
        return text_problem(node.value)
    if isinstance(node, ListValueNode):
        return next((p for v in node.values if (p := _in_node(v))), None)
    if isinstance(node, ObjectValueNode):
        return next((p for f in node.fields if (p := _in_node(f.value))), None)
    return None


class _Arguments(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = None
        self.field = ""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.field = node.name.value

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        found = _in_node(node.value)
        if found and self.problem is None:
            self.problem = f"argument {node.name.value} of {self.field} {found}"
        return self.SKIP


def variables_problem(variables: Mapping[str, Any] | None) -> str | None:
    """The first refused string in the variables, in words."""
    for name, value in (variables or {}).items():
        found = _in_value(value)
        if found:
            return f"variable ${name} {found}"
    return None


def document_problem(document: DocumentNode) -> str | None:
    """The first refused string among the document's arguments, in words."""
    arguments = _Arguments()
    visit(document, arguments)
    return arguments.problem
