"""Hybrid search, facets, thin records and pages through the API, on the demo catalogue and the real model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.db.connections import create_pool
from app.embeddings.encoders import Encoders, QueryEncoder
from app.embeddings.model import SentenceTransformerEmbedder
from app.evaluation.search import LabelledQuery, evaluate_search, ranked_ids
from app.search.fusion import SearchMode
from app.search.service import Search
from app.search.session import session_settings
from app.search.vectors import VectorSearch
from app.settings import Settings
from app.vectors import FloatArray
from tests.api_support import Api

SEARCH = """query($q: String!, $mode: SearchMode! = HYBRID, $limit: Int! = 10, $offset: Int! = 0,
               $filter: MovieFilter, $thin: Boolean! = false) {
  searchMovies(query: $q, mode: $mode, limit: $limit, offset: $offset, filter: $filter, includeThin: $thin) {
    mode usedMeaning offset hasMore
    items { rank score similarity matchedBy exactTitle movie { id title year genres hasOverview } }
  }
}"""


@dataclass
class CountingEmbedder:
    """The real model, counting its calls."""

    model: SentenceTransformerEmbedder
    calls: list[int] = field(default_factory=list)

    @property
    def model_name(self) -> str:
        return self.model.model_name

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.calls.append(len(texts))
        return self.model.encode(texts)


def search(api: Api, text: str, **variables: Any) -> dict[str, Any]:
    """One page of searchMovies."""
    result: dict[str, Any] = api.data(SEARCH, {"q": text, **variables})["searchMovies"]
    return result


def titles(page: dict[str, Any]) -> list[str]:
    return [item["movie"]["title"] for item in page["items"]]


def test_a_plot_paraphrase_finds_its_film_by_meaning(api: Api) -> None:
    page = search(api, "a thief who enters people's dreams to plant an idea", limit=3)
    assert page["mode"] == "HYBRID" and page["usedMeaning"]
    first = page["items"][0]
    assert first["movie"]["title"] == "Inception" and "MEANING" in first["matchedBy"]
    assert 0 < first["similarity"] <= 1
    semantic = search(api, "toys that come to life when nobody is watching", mode="SEMANTIC", limit=3)
    assert any(t.startswith("Toy Story") for t in titles(semantic))
    assert all(item["matchedBy"] == ["MEANING"] for item in semantic["items"])


def test_typos_find_the_title_in_search_and_in_title_lookup(api: Api) -> None:
    for typo, title in (("Incepton", "Inception"), ("The Godfater", "The Godfather"), ("Intersteller", "Interstellar")):
        page = search(api, typo, limit=3)
        assert page["items"][0]["movie"]["title"] == title, (typo, titles(page))
        assert "TITLE" in page["items"][0]["matchedBy"]
        lookup = api.data("query($s: String!) { movies(search: $s, first: 3) { nodes { title } } }", {"s": typo})
        assert lookup["movies"]["nodes"][0]["title"] == title


def test_names_find_a_directors_films(api: Api) -> None:
    page = search(api, "Christopher Nolan", limit=10)
    nolan = {
        "Inception",
        "The Dark Knight",
        "Batman Begins",
        "The Dark Knight Rises",
        "Interstellar",
        "The Prestige",
        "Memento",
        "Dunkirk",
    }
    assert set(titles(page)[:8]) == nolan
    assert all("PEOPLE" in item["matchedBy"] for item in page["items"][:8])
    cast = search(api, "Leonardo DiCaprio", mode="KEYWORD", limit=5)
    assert "Inception" in titles(cast) and all("MEANING" not in i["matchedBy"] for i in cast["items"])
    assert not cast["usedMeaning"]


def test_an_exact_title_comes_first(api: Api) -> None:
    for title in ("Up", "Her", "Heat"):
        page = search(api, title, limit=5)
        assert page["items"][0]["movie"]["title"] == title and page["items"][0]["exactTitle"], titles(page)


def test_pages_follow_each_other_and_say_when_more_exist(api: Api) -> None:
    whole = search(api, "space adventure", limit=30)
    first, second = search(api, "space adventure", limit=15), search(api, "space adventure", limit=15, offset=15)
    assert first["hasMore"] and second["offset"] == 15
    assert titles(first) + titles(second) == titles(whole)
    assert [i["rank"] for i in second["items"]] == list(range(16, 31))
    similar = (
        "query($id: ID!, $o: Int!) { similarMovies(movieId: $id, limit: 5, offset: $o) "
        "{ offset hasMore items { rank movie { id } } } }"
    )
    inception = str(api.sql("SELECT id FROM movies WHERE title = 'Inception'")[0]["id"])
    pages = [api.data(similar, {"id": inception, "o": o})["similarMovies"] for o in (0, 5)]
    ten = api.data(similar.replace("limit: 5", "limit: 10"), {"id": inception, "o": 0})["similarMovies"]
    assert [i["movie"]["id"] for p in pages for i in p["items"]] == [i["movie"]["id"] for i in ten["items"]]
    assert pages[1]["items"][0]["rank"] == 6 and pages[0]["hasMore"]
    last = api.data(similar, {"id": inception, "o": 200})["similarMovies"]
    assert last["items"] and not last["hasMore"]  # 205 other films: the page at 200 is the last


def test_bad_pages_and_modes_are_the_callers_error(api: Api) -> None:
    assert api.error_code(SEARCH, {"q": "dreams", "offset": 401}) == "BAD_USER_INPUT"
    assert api.error_code(SEARCH, {"q": "dreams", "offset": -1}) == "BAD_USER_INPUT"
    assert api.error_code(SEARCH, {"q": "dreams", "limit": 101}, user=1) == "BAD_USER_INPUT"
    assert api.error_code(SEARCH, {"q": "dreams", "mode": "FUZZY"}) == "BAD_USER_INPUT"


def test_genres_are_listed_and_filter_in_any_case(api: Api) -> None:
    genres = api.data("{ genres(limit: 100) { name movies } }")["genres"]
    counts = {g["name"]: g["movies"] for g in genres}
    assert counts["Drama"] == api.sql("SELECT count(*) FROM movies WHERE 'Drama' = ANY(genres)")[0][0]
    assert [g["movies"] for g in genres] == sorted((g["movies"] for g in genres), reverse=True)
    lower = search(api, "war", filter={"genres": ["drama"]}, limit=20)
    upper = search(api, "war", filter={"genres": ["DRAMA"]}, limit=20)
    assert titles(lower) == titles(upper) and lower["items"]
    assert all("Drama" in item["movie"]["genres"] for item in lower["items"])


def test_vote_average_falls_back_to_movierecs_own_ratings(api: Api) -> None:
    row = api.sql(
        "SELECT m.id, s.rating_sum * 2 / s.ratings AS average FROM movies m JOIN movie_rating_stats s "
        "ON s.movie_id = m.id WHERE m.vote_average IS NULL AND s.ratings > 0 ORDER BY m.id LIMIT 1"
    )[0]
    movie = api.data("query($id: ID!) { movie(id: $id) { voteAverage voteCount voteSource } }", {"id": str(row["id"])})
    assert movie["movie"]["voteSource"] == "ratings"
    assert abs(movie["movie"]["voteAverage"] - float(row["average"])) < 0.01
    low = float(row["average"]) - 0.01
    listed = api.data(
        "query($v: Float!) { movies(first: 100, filter: {minVoteAverage: $v}) { nodes { id } } }", {"v": low}
    )["movies"]["nodes"]
    assert str(row["id"]) in {n["id"] for n in listed}


def test_thin_records_stay_out_of_semantic_lists_unless_asked(api: Api) -> None:
    thin = api.data('mutation { upsertMovie(input: {title: "Dream Thief"}) { id hasOverview } }', admin=True, user=1)[
        "upsertMovie"
    ]
    assert thin["hasOverview"] is False
    sources = api.sql("SELECT source FROM movie_sources WHERE movie_id = $1", int(thin["id"]))
    assert [r["source"] for r in sources] == ["api"]  # the API's films keep their key like imported ones
    # As the pipeline would store it if its title alone meant what Inception's text means.
    api.sql(
        "UPDATE movies SET embedding = (SELECT embedding FROM movies WHERE title = 'Inception') WHERE id = $1",
        int(thin["id"]),
    )
    api.sql(
        "INSERT INTO movie_passages (movie_id, ordinal, embedding) SELECT $1, 0, embedding FROM movies WHERE id = $1",
        int(thin["id"]),
    )
    api.vectors_written()
    inception = str(api.sql("SELECT id FROM movies WHERE title = 'Inception'")[0]["id"])
    query = (
        "query($id: ID!, $t: Boolean!) { similarMovies(movieId: $id, limit: 5, includeThin: $t) "
        "{ items { movie { id } } } }"
    )
    ids = lambda t: [i["movie"]["id"] for i in api.data(query, {"id": inception, "t": t})["similarMovies"]["items"]]  # noqa: E731
    assert thin["id"] not in ids(False) and ids(True)[0] == thin["id"]
    meaning = search(api, "thieves inside dreams", mode="SEMANTIC", limit=20)
    assert thin["id"] not in {i["movie"]["id"] for i in meaning["items"]}
    with_thin = search(api, "thieves inside dreams", mode="SEMANTIC", limit=20, thin=True)
    assert thin["id"] in {i["movie"]["id"] for i in with_thin["items"]}
    assert search(api, "Dream Thief", limit=1)["items"][0]["movie"]["id"] == thin["id"]  # its title still finds it
    assert api.data("{ stats { thinMovies passages } }")["stats"]["thinMovies"] == 1


def test_a_search_costs_three_statements(api: Api) -> None:
    # words and titles (while the text encodes), meaning, the page's movies; no transaction around any.
    # Without pgvector, meaning is ranked in process and one statement filters it.
    assert api.count_queries(SEARCH, {"q": "Christopher Nolan"}) == 3
    assert api.count_queries(SEARCH, {"q": "Nolan", "mode": "KEYWORD"}) == 2
    assert api.count_queries(SEARCH, {"q": "Nolan", "mode": "SEMANTIC"}) == 2
    assert not [q for q in api.queries if q.startswith(("BEGIN", "COMMIT", "SET"))]


def test_the_search_evaluation_measures_what_the_api_serves(api: Api, model: SentenceTransformerEmbedder) -> None:
    async def evaluate() -> tuple[dict[str, Any], list[int]]:
        settings = Settings(database_url=api.database_url)
        # One connection: the check below reads the very connection the searches used.
        # Two connections (the evaluation holds one while searching on the other); both are checked below.
        pool = await create_pool(api.database_url, min_size=2, max_size=2, server_settings=session_settings(settings))
        try:
            encoder = QueryEncoder(pool, Encoders(settings, model))
            service = Search(pool, settings, VectorSearch(settings, settings_on_connection=True), encoder)
            queries = [
                LabelledQuery("plot", "a thief who plants an idea inside dreams", ("Inception (2010)",), 1),
                LabelledQuery("typo", "Incepton", ("Inception (2010)",), 1),
                LabelledQuery("director", "Christopher Nolan", ("Memento (2000)", "Dunkirk (2017)"), 2),
                LabelledQuery("title", "Not In This Catalogue", ("Nowhere (1999)",), 1),
            ]
            async with pool.acquire() as conn:
                results = await evaluate_search(service, conn, queries)
            page, _ = await ranked_ids(service, "Christopher Nolan", SearchMode.HYBRID)
            # Searching leaves the pooled connections' own settings as they were, outside any transaction.
            async with pool.acquire() as first, pool.acquire() as second:
                for conn in (first, second):
                    ef_search = await conn.fetchval("SELECT current_setting('hnsw.ef_search')")
                    assert ef_search == str(settings.hnsw_ef_search) and not conn.is_in_transaction()
            return results, page
        finally:
            await pool.close()

    results, page = asyncio.run(evaluate())
    assert results["queries"] == 3 and results["unlabelled"] == ["Not In This Catalogue"]
    assert results["HYBRID"]["classes"]["all"]["recall_at_10"] == 1.0
    assert page == [int(i["movie"]["id"]) for i in search(api, "Christopher Nolan")["items"]]


def test_searches_at_the_same_time_share_model_calls_and_answer_as_one_alone_would(
    api: Api, model: SentenceTransformerEmbedder
) -> None:
    texts = ["a thief who plants an idea inside dreams", "Christopher Nolan", "Incepton", "space", "a robot in love"]

    async def together() -> tuple[list[list[int]], int]:
        settings = Settings(database_url=api.database_url)
        pool = await create_pool(api.database_url, min_size=5, max_size=5, server_settings=session_settings(settings))
        try:
            counted = CountingEmbedder(model)
            encoder = QueryEncoder(pool, Encoders(settings, counted))
            service = Search(pool, settings, VectorSearch(settings, settings_on_connection=True), encoder)
            await encoder.current()  # the generation read once, before the searches start together
            pages = await asyncio.gather(*(service.search(text) for text in texts))
            return [[r.hit.movie_id for r in page.results] for page in pages], len(counted.calls)
        finally:
            await pool.close()

    pages, calls = asyncio.run(together())
    assert calls < len(texts)  # the texts that came while one encoded were encoded together
    assert pages == [[int(i["movie"]["id"]) for i in search(api, text)["items"]] for text in texts]
