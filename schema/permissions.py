"""Field permissions, the one place access is decided: signed in, admin, and acting for another user."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.auth import Viewer
from app.errors import Unauthenticated
from schema.arguments import parse_id
from schema.context import Info

SIGN_IN = "sign in: this needs an `Authorization: Bearer <token>` header"


def _signed_in(info: Info) -> Viewer:
    viewer = info.context.viewer  # a bad or expired token raises UNAUTHENTICATED here
    if viewer is None:
        raise Unauthenticated(SIGN_IN)
    return viewer


class IsAuthenticated(BasePermission):
    """A valid token is required (a bad or expired one fails with UNAUTHENTICATED)."""

    message = SIGN_IN
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012 (the base class declares it so)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return _signed_in(info) is not None


class IsAdmin(BasePermission):
    """Admins only: anonymous callers get UNAUTHENTICATED, other users FORBIDDEN."""

    message = "only an admin may do this"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 (the base class declares it so)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return _signed_in(info).is_admin


class CanActForUser(BasePermission):
    """Signed in; naming another user's `userId` needs an admin."""

    message = "only an admin may act for another user"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 (the base class declares it so)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = _signed_in(info)
        user_id = kwargs.get("user_id")
        return user_id is None or parse_id(user_id, "userId") == viewer.user_id or viewer.is_admin


class SignedInToExcludeSeen(BasePermission):
    """`excludeSeen: true` needs a token (whose ratings to leave out); anyone may ask without it."""

    message = SIGN_IN
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012 (the base class declares it so)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return not kwargs.get("exclude_seen") or _signed_in(info) is not None
