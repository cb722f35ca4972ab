"""Embedding generations: each model's vectors in a slot of their own, so a new model (or dimension) is
backfilled beside the serving vectors and switched in with one transaction.

A slot is a set of columns on `movies` and a passages table: `active` (embedding, embedding_model,
embedded_hash, embedded_at; movie_passages) is what every query reads; `next` (next_embedding, ...;
movie_passages_next) is being backfilled; `previous` is the generation a switch replaced, kept for a
rollback until pruned. A switch renames columns, tables and indexes (catalogue changes only, no row is
rewritten): every query keeps its text, and PostgreSQL re-plans prepared statements against the new
columns on their next use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg

from app.settings import Settings

SlotName = Literal["active", "next", "previous"]


@dataclass(frozen=True)
class Slot:
    """Where one generation's vectors live: identifiers formatted into DDL and queries (never user input)."""

    name: str
    prefix: str

    @property
    def embedding(self) -> str:
        return f"{self.prefix}embedding"

    @property
    def model(self) -> str:
        return f"{self.prefix}embedding_model"

    @property
    def hash(self) -> str:
        return f"{self.prefix}embedded_hash"

    @property
    def at(self) -> str:
        return f"{self.prefix}embedded_at"

    @property
    def columns(self) -> tuple[str, str, str, str]:
        """The movies columns of this slot."""
        return (self.embedding, self.model, self.hash, self.at)

    @property
    def passages(self) -> str:
        return "movie_passages" + (f"_{self.prefix.rstrip('_')}" if self.prefix else "")

    @property
    def index(self) -> str:
        """The films' vector index (app/search/index.py builds the active one)."""
        return f"movies_{self.prefix}embedding_idx"

    @property
    def described_index(self) -> str:
        """The partial index over films with an overview (app/search/index.py's DESCRIBED_INDEX_NAME)."""
        return f"movies_{self.prefix}embedding_described_idx"

    @property
    def passage_index(self) -> str:
        return f"{self.passages}_embedding_idx"


ACTIVE = Slot("active", "")
NEXT = Slot("next", "next_")
PREVIOUS = Slot("previous", "previous_")
# Only inside a rollback's transaction, while active and previous trade places.
SWAPPING = Slot("swapping", "swapping_")
SLOTS: dict[str, Slot] = {slot.name: slot for slot in (ACTIVE, NEXT, PREVIOUS)}


@dataclass(frozen=True)
class GenerationSpec:
    """A model as generations record it: the stored name, where it loads from, its backend and size."""

    model: str
    source: str
    encoder: str
    dimension: int


@dataclass(frozen=True)
class Generation(GenerationSpec):
    """A generation in its slot."""

    id: int
    slot: str


def spec_from_settings(settings: Settings, dimension: int) -> GenerationSpec:
    """The configured model (MOVIEREC_MODEL with MOVIEREC_ENCODER) as a generation."""
    return GenerationSpec(settings.embedding_model, settings.model, settings.encoder, dimension)


def spec_from_model_name(model: str, dimension: int) -> GenerationSpec:
    """A generation from the name stored beside vectors (`<model>` or `<model>+<encoder>`)."""
    source, _, encoder = model.partition("+")
    return GenerationSpec(model, source, encoder or "torch", dimension)


LOAD_GENERATIONS = (
    "SELECT id, slot, model, source, encoder, dimension FROM embedding_generations WHERE slot IS NOT NULL"
)
ACTIVE_GENERATION = (
    "SELECT id, slot, model, source, encoder, dimension FROM embedding_generations WHERE slot = 'active'"
)
# An active generation with no stored vector yet (a new database) takes the model of its first run.
ADOPT_ACTIVE = """
UPDATE embedding_generations SET model = $1, source = $2, encoder = $3, dimension = $4
WHERE slot = 'active' AND model IS DISTINCT FROM $1 AND NOT EXISTS (SELECT 1 FROM movies WHERE embedding IS NOT NULL)
"""


def _generation(row: asyncpg.Record) -> Generation:
    return Generation(**dict(row))  # the statements select exactly its fields


async def load_generations(conn: asyncpg.Connection) -> dict[str, Generation]:
    """The generations in a slot, by slot name."""
    return {row["slot"]: _generation(row) for row in await conn.fetch(LOAD_GENERATIONS)}


async def active_generation(conn: asyncpg.Connection) -> Generation:
    """The generation every query reads."""
    row = await conn.fetchrow(ACTIVE_GENERATION)
    if row is None:
        raise RuntimeError("no active embedding generation: run `movierec migrate`")
    return _generation(row)


async def adopt_if_empty(conn: asyncpg.Connection, spec: GenerationSpec) -> None:
    """Record `spec` as the active generation's model while no vector is stored (a new catalogue)."""
    await conn.execute(ADOPT_ACTIVE, spec.model, spec.source, spec.encoder, spec.dimension)


@dataclass(frozen=True)
class Coverage:
    """How many movies a slot holds a current vector for."""

    total: int
    stored: int
    current: int

    @property
    def complete(self) -> bool:
        """Every movie has a vector made from its current text."""
        return self.current == self.total

    @property
    def percent(self) -> float:
        return 100.0 * self.current / self.total if self.total else 100.0


def coverage_sql(slot: Slot) -> str:
    """Counts of movies, stored vectors and current vectors in a slot."""
    return f"""
SELECT count(*) AS total, count({slot.embedding}) AS stored,
       count(*) FILTER (WHERE {slot.embedding} IS NOT NULL AND {slot.hash} = content_hash) AS current
FROM movies
"""


async def slot_coverage(conn: asyncpg.Connection, slot: Slot) -> Coverage:
    """A slot's coverage (its columns must exist)."""
    row = await conn.fetchrow(coverage_sql(slot))
    return Coverage(total=row["total"], stored=row["stored"], current=row["current"])


INDEX_VALID = "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)"


async def index_valid(conn: asyncpg.Connection, name: str) -> bool | None:
    """Whether an index is valid; None when it does not exist."""
    valid: bool | None = await conn.fetchval(INDEX_VALID, name)
    return valid


def both_valid(first: bool | None, second: bool | None) -> bool | None:
    """Two indexes' state as one: invalid if either is, missing if either is, else valid."""
    if first is False or second is False:
        return False
    if first is None or second is None:
        return None
    return True


@dataclass(frozen=True)
class GenerationStatus:
    """A generation with its coverage and the state of its indexes, as stats and doctor show it."""

    generation: Generation
    coverage: Coverage
    index_valid: bool | None  # the films' two indexes together: False if either is invalid, None if one is missing
    passage_index_valid: bool | None

    def line(self) -> str:
        """`active: generation 3, model (384 dimensions), 206/206 current (100.0%), indexes valid`."""
        g, c = self.generation, self.coverage
        states = {self.index_valid, self.passage_index_valid}
        index = "indexes valid" if states == {True} else "indexes missing" if None in states else "an index INVALID"
        return (
            f"{g.slot}: generation {g.id}, {g.model} ({g.dimension} dimensions), "
            f"{c.current}/{c.total} current ({c.percent:.1f}%), {index}"
        )


async def generation_statuses(conn: asyncpg.Connection) -> list[GenerationStatus]:
    """Every generation in a slot (active first), with coverage and index states."""
    generations = await load_generations(conn)
    out = []
    for name in ("active", "next", "previous"):
        if name in generations:
            slot = SLOTS[name]
            out.append(
                GenerationStatus(
                    generations[name],
                    await slot_coverage(conn, slot),
                    both_valid(await index_valid(conn, slot.index), await index_valid(conn, slot.described_index)),
                    await index_valid(conn, slot.passage_index),
                )
            )
    return out
