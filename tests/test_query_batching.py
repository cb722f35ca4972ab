"""Search texts encoded together when they arrive together (app/embeddings/batching.py)."""

from __future__ import annotations

import asyncio
from typing import cast

import asyncpg
import numpy as np
import pytest

from app.embeddings.batching import QueryBatcher
from app.embeddings.encoders import Encoders, QueryEncoder
from app.embeddings.model import SentenceTransformerEmbedder
from app.settings import Settings
from tests.fakes import FakeEmbedder

SUBJECTS = ("dreams", "robots", "heists", "ghosts", "trains", "lions", "storms", "clocks", "pianos", "kites")
TEXTS = [f"a film about {subject}" for subject in SUBJECTS]


async def _encode_all(batcher: QueryBatcher, texts: list[str]) -> list[np.ndarray]:
    return list(await asyncio.gather(*(batcher.encode(text) for text in texts)))


def test_a_text_that_finds_the_encoder_idle_is_encoded_alone_at_once() -> None:
    fake = FakeEmbedder()
    batcher = QueryBatcher(fake)

    async def one_at_a_time() -> list[np.ndarray]:
        return [await batcher.encode(text) for text in TEXTS[:3]]

    vectors = asyncio.run(one_at_a_time())
    assert fake.calls == [1, 1, 1]
    for text, vector in zip(TEXTS, vectors, strict=False):
        np.testing.assert_array_equal(vector, fake.vector(text))


def test_texts_that_arrive_together_share_model_calls_and_each_gets_its_own_vector() -> None:
    fake = FakeEmbedder()
    batcher = QueryBatcher(fake, max_batch=4)
    vectors = asyncio.run(_encode_all(batcher, TEXTS))
    assert fake.calls == [4, 4, 2] and batcher.batches == 3
    for text, vector in zip(TEXTS, vectors, strict=True):
        np.testing.assert_array_equal(vector, fake.vector(text))


def test_texts_queued_behind_a_running_batch_are_taken_by_the_next_one() -> None:
    fake = FakeEmbedder()
    batcher = QueryBatcher(fake, max_batch=16)

    async def staggered() -> list[np.ndarray]:
        first = asyncio.ensure_future(batcher.encode(TEXTS[0]))
        await asyncio.sleep(0)  # the first batch (one text) starts encoding
        rest = [asyncio.ensure_future(batcher.encode(text)) for text in TEXTS[1:]]
        return list(await asyncio.gather(first, *rest))

    vectors = asyncio.run(staggered())
    assert fake.calls == [1, 9]
    for text, vector in zip(TEXTS, vectors, strict=True):
        np.testing.assert_array_equal(vector, fake.vector(text))


def test_parallel_batches_split_the_waiting_texts() -> None:
    fake = FakeEmbedder()
    batcher = QueryBatcher(fake, max_batch=16, parallel=2)
    asyncio.run(_encode_all(batcher, TEXTS))
    assert sum(fake.calls) == len(TEXTS) and len(fake.calls) <= 2


def test_a_failing_batch_fails_each_of_its_texts_and_the_next_one_still_encodes() -> None:
    fake = FakeEmbedder(fail_on="ghosts")
    batcher = QueryBatcher(fake)

    async def run() -> tuple[list[object], np.ndarray]:
        outcomes = await asyncio.gather(*(batcher.encode(text) for text in TEXTS[:5]), return_exceptions=True)
        return outcomes, await batcher.encode("a film about nothing in particular")

    outcomes, after = asyncio.run(run())
    assert all(isinstance(o, RuntimeError) for o in outcomes)  # one batch, and it held the failing text
    np.testing.assert_array_equal(after, fake.vector("a film about nothing in particular"))


def test_a_caller_that_goes_away_leaves_the_others_their_vectors() -> None:
    fake = FakeEmbedder()
    batcher = QueryBatcher(fake)

    async def run() -> list[np.ndarray]:
        tasks = [asyncio.ensure_future(batcher.encode(text)) for text in TEXTS[:4]]
        await asyncio.sleep(0)
        tasks[1].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[1], asyncio.CancelledError)
        return [done[0], done[2], done[3]]  # type: ignore[list-item]

    vectors = asyncio.run(run())
    for text, vector in zip([TEXTS[0], TEXTS[2], TEXTS[3]], vectors, strict=True):
        np.testing.assert_array_equal(vector, fake.vector(text))


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        QueryBatcher(FakeEmbedder(), max_batch=0)


@pytest.mark.model
def test_the_model_gives_a_text_the_same_vector_alone_or_in_a_batch(model: SentenceTransformerEmbedder) -> None:
    texts = ["Inception", "a thief who plants an idea inside dreams", "Christopher Nolan", "Incepton", *TEXTS]
    batched = asyncio.run(_encode_all(QueryBatcher(model), texts))
    alone = [model.encode([text])[0] for text in texts]
    for a, b in zip(alone, batched, strict=True):
        assert float(np.dot(a, b)) > 0.99999  # padding in a batch moves the last float bits only


def test_a_text_searched_again_reuses_its_vector_and_the_cache_keeps_the_latest_texts() -> None:
    fake, other = FakeEmbedder(), FakeEmbedder(model_name="other-model")
    encoder = QueryEncoder(cast(asyncpg.Pool, None), Encoders(Settings(query_cache=2), fake, other))

    async def run() -> None:
        first = await encoder.encode(fake, "dreams")
        assert fake.calls == [1]
        again = await encoder.encode(fake, "dreams")  # the next page of the same search
        assert fake.calls == [1] and again is first and not again.flags.writeable and again.base is None
        np.testing.assert_array_equal(again, fake.vector("dreams"))
        await encoder.encode(other, "dreams")  # another model's vector is its own
        assert other.calls == [1]
        await encoder.encode(fake, "robots")  # three texts in a cache of two: the oldest goes
        await encoder.encode(fake, "heists")
        await encoder.encode(fake, "dreams")
        assert fake.calls == [1, 1, 1, 1]

    asyncio.run(run())


def test_without_a_cache_every_search_encodes_its_text() -> None:
    fake = FakeEmbedder()
    encoder = QueryEncoder(cast(asyncpg.Pool, None), Encoders(Settings(query_cache=0), fake))

    async def run() -> None:
        for _ in range(3):
            await encoder.encode(fake, "dreams")

    asyncio.run(run())
    assert fake.calls == [1, 1, 1]
