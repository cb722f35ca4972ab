"""The per-request context: services, the viewer, DataLoaders (made on first use) and a request id."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import strawberry
from starlette.requests import Request
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from app.auth import Viewer, viewer_from_header
from app.db.replicas import current_viewer
from app.errors import AppError, Unauthenticated
from app.services import Services
from schema.arguments import parse_id


@dataclass
class Context:
    """Everything a resolver may use; DataLoaders batch nested look-ups into one query each."""

    request: Request
    services: Services
    request_id: str
    _viewer: Viewer | None = None
    _auth_error: AppError | None = None

    @cached_property
    def movies(self) -> DataLoader[int, dict[str, Any] | None]:
        """Movies by id."""
        return DataLoader(load_fn=self.services.catalogue.movies_by_ids)

    @cached_property
    def users(self) -> DataLoader[int, dict[str, Any] | None]:
        """Users by id."""
        return DataLoader(load_fn=self.services.catalogue.users_by_ids)

    @cached_property
    def ratings_by_user(self) -> DataLoader[int, list[dict[str, Any]]]:
        """Each user's ratings, newest first."""
        return DataLoader(load_fn=self.services.catalogue.ratings_by_users)

    @cached_property
    def also_liked(self) -> DataLoader[int, list[tuple[dict[str, Any], float]]]:
        """Each movie's strongest neighbours in the serving collaborative model."""
        return DataLoader(load_fn=self.services.models.also_liked)

    @property
    def viewer(self) -> Viewer | None:
        """The signed-in user, None when anonymous; a bad or expired token raises UNAUTHENTICATED."""
        if self._auth_error is not None:
            raise self._auth_error
        return self._viewer

    @property
    def viewer_id(self) -> int:
        """The signed-in user's id (fields that use it carry a permission class that requires a token)."""
        viewer = self.viewer
        if viewer is None:
            raise Unauthenticated("sign in: this needs an `Authorization: Bearer <token>` header")
        return viewer.user_id

    def acting_user_id(self, user_id: strawberry.ID | None) -> int:
        """The user an operation acts for: `userId` when given (CanActForUser checked it), else the viewer."""
        return parse_id(user_id, "userId") if user_id is not None else self.viewer_id


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when it is short and plain, else a new one (it is echoed in errors)."""
    given = request.headers.get("x-request-id") or ""
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]


def build_context(request: Request, services: Services) -> Context:
    """Read the token (lazily failing) and the request id for one request."""
    request_id = request_id_of(request)
    try:
        viewer = viewer_from_header(services.jwt_secret, request.headers.get("authorization"))
        # Reads routed to replicas must still see this viewer's own writes (app/db/replicas.py).
        current_viewer.set(viewer.user_id if viewer is not None else None)
        return Context(request, services, request_id, _viewer=viewer)
    except Unauthenticated as error:
        return Context(request, services, request_id, _auth_error=error)


Info = StrawberryInfo[Context, None]
