"""Choose the hybrid's weights and EASE's regularisation with `movierec evaluate` on the benchmark catalogue.

    python -m bench.sweep [--data-dir .movierec-bench]

Prints one table row per setting (the hybrid, K = 10); docs/evaluation.md records the run.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from app.db.connections import connect
from app.evaluation.evaluate import EvaluationConfig, evaluate
from bench.catalogue import prepared
from bench.report import ROOT

SETTINGS: list[dict[str, Any]] = [
    {"hybrid_collaborative_weight": 0.7, "hybrid_content_weight": 0.15, "hybrid_popularity_weight": 0.15},
    {"hybrid_collaborative_weight": 1.0, "hybrid_content_weight": 0.0, "hybrid_popularity_weight": 0.0},
    {"hybrid_collaborative_weight": 0.6, "hybrid_content_weight": 0.3, "hybrid_popularity_weight": 0.1},
    {"hybrid_collaborative_weight": 0.5, "hybrid_content_weight": 0.3, "hybrid_popularity_weight": 0.2},
    {"hybrid_collaborative_weight": 0.5, "hybrid_content_weight": 0.5, "hybrid_popularity_weight": 0.0},
    {"hybrid_collaborative_weight": 0.4, "hybrid_content_weight": 0.4, "hybrid_popularity_weight": 0.2},
    {"train_l2": 50.0},
    {"train_l2": 1000.0},
    {"train_neighbours": 50},
    {"dislike_below": 0.5},
]


async def run(settings_base: Any, dsn: str) -> None:
    conn = await connect(dsn)
    try:
        print("| setting | Recall@10 | NDCG@10 | MRR | hit rate | coverage | novelty | slots < 5 ratings |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for overrides in SETTINGS:
            settings = settings_base.model_copy(update=overrides)
            result = (await evaluate(conn, settings, EvaluationConfig()))["hybrid (API default)"]
            name = ", ".join(f"{k.removeprefix('hybrid_')}={v}" for k, v in overrides.items())
            print(
                f"| {name} | {result['recall']:.4f} | {result['ndcg']:.4f} | {result['mrr']:.4f} | "
                f"{result['hit_rate']:.3f} | {result['coverage']:.3f} | {result['novelty']:.0f} | "
                f"{result['long_tail']:.3f} |",
                flush=True,
            )
    finally:
        await conn.close()


def main() -> None:
    """Evaluate the hybrid under each setting in SETTINGS."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".movierec-bench")
    args = parser.parse_args()
    settings, dsn = prepared(args.data_dir.resolve())
    asyncio.run(run(settings, dsn))


if __name__ == "__main__":
    main()
