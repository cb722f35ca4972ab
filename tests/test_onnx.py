"""The ONNX Runtime encoder: the same vectors as PyTorch, no torch in its process, a generation of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.embeddings.model import SentenceTransformerEmbedder
from app.embeddings.onnx import OnnxEmbedder
from app.embeddings.onnx_export import FILE, INT8_FILE, Q8_FILE, export
from app.embeddings.paths import resolve_model_path
from app.settings import Settings
from app.vectors import neighbour_overlap
from tests.api_support import running_api

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "app" / "catalogue" / "demo" / "movies.jsonl"


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model exported once for the session (what `ensure_exported` does on first use)."""
    folder = tmp_path_factory.mktemp("onnx")
    export(Path(resolve_model_path("all-MiniLM-L6-v2")), folder)
    return folder


def test_onnx_vectors_match_pytorch_on_the_demo_catalogue(exported: Path, model: SentenceTransformerEmbedder) -> None:
    from app.embeddings.text import MovieContent, embedding_text

    texts = []
    for line in DEMO.read_text().splitlines():
        item = json.loads(line)
        content = MovieContent(item["title"], item.get("year"), item.get("overview", ""), item.get("genres", []))
        texts.append(embedding_text(content))
    reference = model.encode(texts)
    onnx = OnnxEmbedder("all-MiniLM-L6-v2", exported / FILE, variant="onnx").encode(texts)
    assert float(np.min(np.sum(reference * onnx, axis=1))) > 0.999
    assert neighbour_overlap(reference, onnx) >= 0.95
    # Int8 in blocks of 32 stays within the guard; per output channel is faster and less exact.
    blocks = OnnxEmbedder("all-MiniLM-L6-v2", exported / Q8_FILE, variant="onnx-q8").encode(texts)
    assert float(np.min(np.sum(reference * blocks, axis=1))) > 0.99
    assert neighbour_overlap(reference, blocks) >= 0.95
    int8 = OnnxEmbedder("all-MiniLM-L6-v2", exported / INT8_FILE, variant="onnx-int8").encode(texts)
    assert neighbour_overlap(reference, int8) >= 0.8  # faster, less exact: docs/benchmarks.md


@pytest.fixture
def onnx_settings(exported: Path, tmp_path: Path) -> Iterator[Path]:
    """A data directory whose ONNX export is already in place."""
    target = tmp_path / "movierec" / "onnx" / "all-MiniLM-L6-v2"
    target.mkdir(parents=True)
    for name in (FILE, INT8_FILE, Q8_FILE):
        (target / name).symlink_to(exported / name)
    yield tmp_path / "movierec"


def test_search_texts_are_encoded_on_the_query_threads(onnx_settings: Path) -> None:
    from app.embeddings.encoders import query_settings
    from app.embeddings.model import load_embedder

    settings = Settings(data_dir=onnx_settings, encoder="onnx", query_threads=1)
    api, worker = load_embedder(query_settings(settings)), load_embedder(settings)
    assert isinstance(api, OnnxEmbedder) and isinstance(worker, OnnxEmbedder)
    assert (api.threads, worker.threads) == (1, 0)  # the API's one thread; a thread per core for batches
    assert np.allclose(api.encode(["a heist inside dreams"]), worker.encode(["a heist inside dreams"]), atol=1e-5)


@pytest.mark.parametrize("encoder", ["onnx", "onnx-q8"])
def test_an_api_serving_with_onnx_finds_by_meaning_and_marks_its_generation(
    database_url: str, onnx_settings: Path, model: SentenceTransformerEmbedder, encoder: str
) -> None:
    import asyncio

    from app.catalogue.importers.demo import import_demo
    from app.db.connections import connect
    from app.db.migrate import migrate
    from app.embeddings.model import load_embedder
    from app.embeddings.pipeline import embed_movies
    from app.embeddings.refresh import refresh_embeddings

    settings = Settings(database_url=database_url, data_dir=onnx_settings, encoder=encoder)
    embedder = load_embedder(settings)
    assert embedder.model_name == f"all-MiniLM-L6-v2+{encoder}"

    async def build() -> None:
        conn = await connect(database_url, vector=False)
        await migrate(conn, 384)
        await conn.close()
        conn = await connect(database_url)
        await import_demo(conn)
        await embed_movies(conn, model)  # vectors from PyTorch first
        # Another backend is another generation: backfilled beside the PyTorch vectors, then switched in.
        switched = await refresh_embeddings(conn, embedder, settings)
        assert switched.backfill is not None and switched.backfill.embedded == 206
        assert switched.switched is not None and switched.switched.active.model == embedder.model_name
        await conn.close()

    asyncio.run(build())
    for api in running_api(database_url, embedder, onnx_settings, encoder=encoder):  # type: ignore[arg-type]
        search = "query($q: String!) { searchMovies(query: $q, limit: 3) { items { movie { title } } } }"
        found = api.data(search, {"q": "a thief who plants an idea inside dreams"})
        assert found["searchMovies"]["items"][0]["movie"]["title"] == "Inception"
        stats = api.data("{ stats { currentEmbeddings totalMovies } }")["stats"]
        assert stats["currentEmbeddings"] == stats["totalMovies"] == 206
        models = {r["embedding_model"] for r in api.sql("SELECT DISTINCT embedding_model FROM movies")}
        assert models == {embedder.model_name}


def switch_to_onnx(database_url: str, data_dir: Path) -> None:
    """Backfill and switch in an `onnx` generation: the API encodes with the model that made the served vectors."""
    import asyncio

    from app.db.connections import connect
    from app.embeddings.model import load_embedder
    from app.embeddings.refresh import refresh_embeddings

    settings = Settings(database_url=database_url, data_dir=data_dir, encoder="onnx")

    async def switch() -> None:
        conn = await connect(database_url)
        assert (await refresh_embeddings(conn, load_embedder(settings), settings)).switched is not None
        await conn.close()

    asyncio.run(switch())


def test_the_api_process_serving_with_onnx_never_imports_torch(demo_database_url: str, onnx_settings: Path) -> None:
    switch_to_onnx(demo_database_url, onnx_settings)
    program = f"""
import sys
from starlette.testclient import TestClient
from app.server import create_app
from app.settings import Settings
from app.vectors import neighbour_overlap
settings = Settings(database_url={demo_database_url!r}, data_dir={str(onnx_settings)!r}, encoder="onnx")
with TestClient(create_app(settings)) as client:
    query = '{{ searchMovies(query: "dreams", limit: 1) {{ items {{ rank }} }} }}'
    answer = client.post("/graphql", json={{"query": query}})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
print("torch" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_the_serve_command_with_default_settings_leaves_torch_out_of_an_onnx_api(
    demo_database_url: str, onnx_settings: Path
) -> None:
    import os
    import socket
    import time
    import urllib.error
    import urllib.request

    switch_to_onnx(demo_database_url, onnx_settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # MOVIEREC_ENCODER left at its default (torch): the API still encodes with the served generation's.
    env = {key: value for key, value in os.environ.items() if key != "MOVIEREC_ENCODER"}
    env |= {"DATABASE_URL": demo_database_url, "MOVIEREC_DATA_DIR": str(onnx_settings), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    assert answer.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, "the API did not start"
                time.sleep(0.5)
        assert "libtorch" not in Path(f"/proc/{server.pid}/maps").read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
