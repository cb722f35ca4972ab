"""Search evaluation: the labelled queries run through the service the API serves, per mode and class.

    movierec evaluate-search [--json docs/search-results.json]

Meant for the full Wikipedia catalogue (docs/evaluation.md); on a catalogue without a query's films
the query is reported as unlabelled and left out rather than counted as a miss.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from app.evaluation.metrics import recall_of_needed, reciprocal_rank
from app.search.fusion import SearchMode
from app.search.service import Search

QUERIES = Path(__file__).with_name("search_queries.json")
K = 10
DEPTH = 100  # MRR looks this deep: one page of the largest size
_LABEL = re.compile(r"^(?P<title>.+) \((?P<year>\d{4})\)$")

FIND_LABELLED = """
SELECT l.label, m.id
FROM unnest($1::text[], $2::int[], $3::text[]) AS l(title, year, label)
JOIN movies m ON movierec_fold(m.title) = movierec_fold(l.title) AND m.year = l.year
"""


@dataclass(frozen=True)
class LabelledQuery:
    """A query, its class and the films it should find."""

    query_class: str
    text: str
    expected: tuple[str, ...]
    need: int  # how many expected films in the top 10 make a full hit


def load_queries(path: Path = QUERIES) -> list[LabelledQuery]:
    """The checked-in query set."""
    document = json.loads(path.read_text())
    return [
        LabelledQuery(q["class"], q["text"], tuple(q["expected"]), int(q.get("need", len(q["expected"]))))
        for q in document["queries"]
    ]


async def resolve_labels(conn: asyncpg.Connection, queries: Sequence[LabelledQuery]) -> dict[str, set[int]]:
    """Each 'Title (year)' label's movie ids in this catalogue (a remake of the same year counts too)."""
    labels = sorted({label for q in queries for label in q.expected})
    parsed = [_LABEL.match(label) for label in labels]
    rows = await conn.fetch(
        FIND_LABELLED,
        [m["title"] if m else "" for m in parsed],
        [int(m["year"]) if m else 0 for m in parsed],
        labels,
    )
    found: dict[str, set[int]] = {}
    for row in rows:
        found.setdefault(row["label"], set()).add(row["id"])
    return found


def score_query(page: Sequence[int], deep: Sequence[int], relevant: set[int], need: int) -> tuple[float, float]:
    """(Recall@10 of the first page against `need` films, reciprocal rank in the top 100)."""
    return recall_of_needed(page, relevant, K, need), reciprocal_rank(deep, relevant, DEPTH)


async def evaluate_search(
    search: Search, conn: asyncpg.Connection, queries: Sequence[LabelledQuery] | None = None
) -> dict[str, Any]:
    """MRR and Recall@10 per mode and query class, with every query's own result."""
    queries = list(queries if queries is not None else load_queries())
    labels = await resolve_labels(conn, queries)
    usable = [q for q in queries if all(label in labels for label in q.expected)]
    results: dict[str, Any] = {"queries": len(usable), "unlabelled": [q.text for q in queries if q not in usable]}
    for mode in SearchMode:
        per_query = []
        for q in usable:
            page, deep = await ranked_ids(search, q.text, mode)
            relevant = set().union(*(labels[label] for label in q.expected))
            recall, rr = score_query(page, deep, relevant, q.need)
            per_query.append({"class": q.query_class, "text": q.text, "recall": recall, "rr": rr, "top": page[:3]})
        results[mode.name] = {"classes": summarise(per_query), "queries": per_query}
    return results


async def ranked_ids(search: Search, text: str, mode: SearchMode) -> tuple[list[int], list[int]]:
    """The first page a client sees (limit 10) and the first DEPTH results (one page of DEPTH)."""
    first = await search.search(text, mode=mode, limit=K)
    deep = await search.search(text, mode=mode, limit=DEPTH)
    return [r.hit.movie_id for r in first.results], [r.hit.movie_id for r in deep.results]


def summarise(per_query: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean Recall@10 and MRR per class and overall."""
    classes: dict[str, list[dict[str, Any]]] = {}
    for q in per_query:
        classes.setdefault(q["class"], []).append(q)
    classes["all"] = list(per_query)
    return {
        name: {
            "queries": len(items),
            "recall_at_10": statistics.fmean(q["recall"] for q in items),
            "mrr": statistics.fmean(q["rr"] for q in items),
        }
        for name, items in classes.items()
        if items
    }


def search_table(results: dict[str, Any]) -> list[str]:
    """A markdown table: one row per class, Recall@10 / MRR per mode."""
    modes = [m.name for m in SearchMode]
    classes = list(results[modes[0]]["classes"])
    lines = [
        "| class | queries | " + " | ".join(f"{m} R@10 | {m} MRR" for m in modes) + " |",
        "|---|---:|" + "---:|---:|" * len(modes),
    ]
    for name in classes:
        cells = [
            f"{results[m]['classes'][name]['recall_at_10']:.2f} | {results[m]['classes'][name]['mrr']:.2f}"
            for m in modes
        ]
        lines.append(f"| {name} | {results[modes[0]]['classes'][name]['queries']} | " + " | ".join(cells) + " |")
    return lines
