"""What the admin console reads and does, through the API: health, coverage counts, index rebuilds, edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.embeddings.model import SentenceTransformerEmbedder
from app.queue.redis_server import start_embedded_redis, stop_embedded_redis
from app.settings import Settings
from tests.api_support import running_api
from tests.worker_support import run_burst_worker

pytestmark = pytest.mark.model
HEALTH = "{ health { name ok detail fix } }"


def test_health_lists_the_doctors_checks_redis_and_the_worker(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for api in running_api(demo_database_url, model, tmp_path, redis_url=redis_url):
        checks = {c["name"]: c for c in api.data(HEALTH, user=1, admin=True)["health"]}
        assert {"pgvector extension", "migrations", "embedding column", "vector index", "coverage"} <= set(checks)
        assert checks["redis"]["ok"] and checks["pgvector extension"]["ok"]
        assert not checks["worker"]["ok"] and "movierec worker" in checks["worker"]["fix"]  # none runs here
        assert api.error_code(HEALTH, user=2) == "FORBIDDEN"
        assert api.error_code(HEALTH) == "UNAUTHENTICATED"


def test_health_says_when_redis_is_down(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "redis"
    url = start_embedded_redis(folder)
    stop_embedded_redis(folder)
    for api in running_api(demo_database_url, model, tmp_path, redis_url=url):
        checks = {c["name"]: c for c in api.data(HEALTH, user=1, admin=True)["health"]}
        assert not checks["redis"]["ok"] and checks["redis"]["fix"]
        assert checks["migrations"]["ok"]  # the database's checks still answer


@pytest.mark.pgvector
def test_an_index_rebuild_runs_in_the_worker_and_an_edit_is_re_embedded(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    settings = Settings(database_url=demo_database_url, redis_url=redis_url, data_dir=tmp_path)
    for api in running_api(demo_database_url, model, tmp_path, redis_url=redis_url):
        before = api.sql("SELECT indexrelid FROM pg_index WHERE indexrelid = 'movies_embedding_idx'::regclass")
        job = api.data("mutation { rebuildVectorIndex { id status } }", user=1, admin=True)["rebuildVectorIndex"]
        assert job["status"] == "queued"
        assert api.error_code("mutation { rebuildVectorIndex { id } }", user=2) == "FORBIDDEN"
        edit = 'mutation($id: ID!) { upsertMovie(input: {id: $id, overview: "A new overview."}) { embeddingCurrent } }'
        movie = str(api.sql("SELECT id FROM movies WHERE title = 'Inception'")[0]["id"])
        assert api.data(edit, {"id": movie}, user=1, admin=True)["upsertMovie"]["embeddingCurrent"] is False
        stats = api.data("{ stats { staleEmbeddings missingEmbeddings } }")["stats"]
        assert stats == {"staleEmbeddings": 1, "missingEmbeddings": 0}
        run_burst_worker(settings, model, cron=False)
        state = api.data('{ refreshJob(id: "%s") { status } }' % job["id"], user=1, admin=True)["refreshJob"]
        assert state["status"] == "not_found"  # done
        after = api.sql(
            "SELECT c.oid, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE c.relname = 'movies_embedding_idx'"
        )
        assert after[0]["indisvalid"] and after[0]["oid"] != before[0]["indexrelid"]  # a new, valid index
        current = api.data("query($id: ID!) { movie(id: $id) { embeddingCurrent } }", {"id": movie})["movie"]
        assert current["embeddingCurrent"] is True
