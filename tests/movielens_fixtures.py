"""Tiny MovieLens-layout fixtures, written to a temporary folder by the tests that need them.

They live here rather than as files so that nothing tracked is named like the real data set.
"""

from __future__ import annotations

from pathlib import Path

MOVIELENS: dict[str, dict[str, str]] = {
    "movielens": {
        "movies.csv": (
            "movieId,title,genres\n"
            '1,"Shawshank Redemption, The (1994)",Crime|Drama\n'
            "2,Inception (2010),Action|Sci-Fi\n"
            '3,"Matrix, The (1999)",Action|Sci-Fi\n'
            "4,A Film That Does Not Exist (1987),Drama\n"
            '5,"Seven (a.k.a. Se7en) (1995)",Mystery|Thriller\n'
            "6,Fight Club (1998),Drama\n"
        ),
        "ratings.csv": (
            "userId,movieId,rating,timestamp\n"
            "1,1,5.0,1260759144\n"
            "1,2,4.5,1260759179\n"
            "1,4,3.0,1260759182\n"
            "1,3,7.0,1260759185\n"
            "2,3,4.0,1260759200\n"
            "2,5,2.5,1260759205\n"
            "2,6,3.5,1260759210\n"
            "3,2,abc,1260759300\n"
            "3,1,1.0,1260759301\n"
        ),
    },
    "movielens_links": {
        "links.csv": ("movieId,imdbId,tmdbId\n10,,27205\n11,0137523,\n"),
        "movies.csv": (
            'movieId,title,genres\n10,Some Other Title (2003),Drama\n11,"Totally Different, The (1900)",Drama\n'
        ),
        "ratings.csv": ("userId,movieId,rating,timestamp\n7,10,4.5,1300000000\n7,11,0.5,1300000100\n"),
    },
}


def write_movielens(base: Path, name: str) -> Path:
    """Write fixture `name` (movielens or movielens_links) under `base`; returns the folder."""
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in MOVIELENS[name].items():
        (folder / file_name).write_text(text)
    return folder
