"""Field permissions: signed in, and admin."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from schema.context import Info


class IsAuthenticated(BasePermission):
    """A valid token is required (a bad or expired one fails with UNAUTHENTICATED)."""

    message = "sign in: this needs an `Authorization: Bearer <token>` header"
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012 (the base class declares it so)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.viewer is not None


class IsAdmin(BasePermission):
    """Admins only: anonymous callers get UNAUTHENTICATED, other users FORBIDDEN."""

    message = "only an admin may do this"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 (the base class declares it so)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.require_viewer().is_admin
