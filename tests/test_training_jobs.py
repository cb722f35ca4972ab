"""Training as the worker and the CLI run it: the admin mutation, and a training killed half-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.embeddings.model import SentenceTransformerEmbedder
from app.settings import Settings
from tests.api_support import running_api
from tests.taste_clusters import CLUSTERS, SEED_RATINGS
from tests.worker_support import run_burst_worker

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]
SMALL = {"train_min_users": 3, "train_min_ratings": 20}
TRAIN = "mutation { trainRecommender { id status model { status active } } }"


def test_train_recommender_queues_one_job_that_the_worker_runs(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for api in running_api(demo_database_url, model, tmp_path, redis_url=redis_url, **SMALL):
        api.sql(SEED_RATINGS, 60, list(CLUSTERS))
        first = api.data(TRAIN, user=1, admin=True)["trainRecommender"]
        second = api.data(TRAIN, user=1, admin=True)["trainRecommender"]
        assert first == second == {"id": "train-recommender", "status": "queued", "model": None}
        assert api.error_code(TRAIN, user=2) == "FORBIDDEN"
        settings = Settings(
            database_url=demo_database_url, redis_url=redis_url, data_dir=tmp_path, refresh_cron="0 4 1 1 *", **SMALL
        )
        run_burst_worker(settings, model, cron=False)
        job = api.data(
            '{ trainingJob(id: "train-recommender") { status model { status active trigger } } }', user=1, admin=True
        )
        assert job["trainingJob"] == {
            "status": "not_found",
            "model": {"status": "ready", "active": True, "trigger": "on_demand"},
        }
        assert api.data("{ recommendations { strategy } }", user=1)["recommendations"]["strategy"] == "HYBRID"


BULK = """
WITH films AS (
    INSERT INTO movies (title, content_hash, source, source_key)
    SELECT 'Bulk film ' || g, 'bulk', 'bulk', g::text FROM generate_series(1, $1::int) AS g RETURNING id
), raters AS (
    INSERT INTO users (name, source, source_key)
    SELECT 'Bulk rater ' || g, 'bulk', g::text FROM generate_series(1, 400) AS g RETURNING id
)
INSERT INTO ratings (user_id, movie_id, rating)
SELECT r.id, f.id, 4.0 FROM raters r CROSS JOIN films f WHERE abs(hashtext(r.id || ':' || f.id)) % 20 = 0
"""


def test_a_training_killed_half_way_leaves_the_previous_model_serving(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": demo_database_url,
        "HF_HUB_OFFLINE": "1",
        "MOVIEREC_DATA_DIR": str(tmp_path),
        "MOVIEREC_TRAIN_MIN_USERS": "3",
        "MOVIEREC_TRAIN_MIN_RATINGS": "20",
        "MOVIEREC_TRAIN_MAX_MOVIES": "6000",
    }
    train = [sys.executable, "-m", "app", "train"]
    for api in running_api(demo_database_url, model, tmp_path, **SMALL):
        api.sql(SEED_RATINGS, 60, list(CLUSTERS))
        done = subprocess.run(train, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        serving = api.sql("SELECT active_model_id FROM recommender_state")[0][0]
        before = api.data("{ recommendations { strategy items { movie { id } } } }", user=1)["recommendations"]
        api.sql(BULK, 6000)  # a catalogue big enough for the training to take a few seconds
        killed = subprocess.Popen(train, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not api.sql("SELECT 1 FROM recommender_models WHERE status = 'training'") and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        rows = api.sql("SELECT id, status FROM recommender_models ORDER BY id")
        assert rows[-1]["status"] == "training", "the training should be killed part-way"
        assert api.sql("SELECT active_model_id FROM recommender_state")[0][0] == serving
        after = api.data("{ recommendations { strategy items { movie { id } } } }", user=1)["recommendations"]
        assert after == before  # the previous model still serves, untouched
        models = api.data("{ recommenderModels(limit: 2) { id status active } }", user=1, admin=True)
        assert models["recommenderModels"] == [
            {"id": str(rows[-1]["id"]), "status": "interrupted", "active": False},
            {"id": str(serving), "status": "ready", "active": True},
        ]
        assert api.sql("SELECT count(*) FROM movie_neighbors WHERE model_id = $1", rows[-1]["id"])[0][0] == 0
