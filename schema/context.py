"""The per-request context: services, the viewer, DataLoaders and a request id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from app.auth import Viewer, viewer_from_header
from app.catalogue import load_movies_by_ids, load_ratings_by_users, load_users_by_ids
from app.errors import AppError, Forbidden, Unauthenticated
from app.services import Services


@dataclass
class Context:
    """Everything a resolver may use; DataLoaders batch nested look-ups into one query each."""

    request: Request
    services: Services
    request_id: str
    _viewer: Viewer | None = None
    _auth_error: AppError | None = None
    movies: DataLoader[int, dict[str, Any] | None] = field(init=False)
    users: DataLoader[int, dict[str, Any] | None] = field(init=False)
    ratings_by_user: DataLoader[int, list[dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self.movies = DataLoader(load_fn=self._batch(load_movies_by_ids))
        self.users = DataLoader(load_fn=self._batch(load_users_by_ids))
        self.ratings_by_user = DataLoader(load_fn=self._batch(load_ratings_by_users))

    def _batch(self, load: Any) -> Any:
        async def run(keys: list[int]) -> Any:
            async with self.services.pool.acquire() as conn:
                return await load(conn, keys)

        return run

    @property
    def viewer(self) -> Viewer | None:
        """The signed-in user, None when anonymous; a bad or expired token raises UNAUTHENTICATED."""
        if self._auth_error is not None:
            raise self._auth_error
        return self._viewer

    def require_viewer(self) -> Viewer:
        """The signed-in user, or UNAUTHENTICATED."""
        viewer = self.viewer
        if viewer is None:
            raise Unauthenticated("sign in: this needs an `Authorization: Bearer <token>` header")
        return viewer

    def acting_user(self, user_id: int | None) -> int:
        """The user an operation acts for: the viewer, or anyone when the viewer is an admin."""
        viewer = self.require_viewer()
        if user_id is None or user_id == viewer.user_id:
            return viewer.user_id
        if not viewer.is_admin:
            raise Forbidden("only an admin may act for another user")
        return user_id


def build_context(request: Request, services: Services) -> Context:
    """Read the token (lazily failing) and make the loaders for one request."""
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
    try:
        viewer = viewer_from_header(services.jwt_secret, request.headers.get("authorization"))
        return Context(request, services, request_id, _viewer=viewer)
    except Unauthenticated as error:
        return Context(request, services, request_id, _auth_error=error)


Info = StrawberryInfo[Context, None]
