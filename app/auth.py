"""Bearer tokens: HS256 JWTs with a pinned algorithm, a required expiry, `sub` = user id, `admin`."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from app.errors import Unauthenticated
from app.settings import Settings

ALGORITHM = "HS256"
SECRET_FILE = "jwt-secret"


@dataclass(frozen=True)
class Viewer:
    """Who is calling: a user id and whether they are an admin."""

    user_id: int
    is_admin: bool = False


def load_secret(settings: Settings) -> str:
    """MOVIEREC_JWT_SECRET, else a random secret created once and kept in the data directory."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when two processes race, one creates the file and both read the same secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def mint_token(secret: str, user_id: int, *, admin: bool = False, ttl: timedelta = timedelta(days=7)) -> str:
    """A signed token for `user_id`, valid for `ttl`."""
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "admin": admin, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> Viewer:
    """The viewer a token speaks for, or Unauthenticated saying why not."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired; sign in again") from None
    except jwt.PyJWTError as error:
        raise Unauthenticated(f"invalid token: {error}") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not (subject.isascii() and subject.isdigit()) or not 0 < len(subject) <= 18:
        raise Unauthenticated("invalid token: sub must be a user id")
    return Viewer(user_id=int(subject), is_admin=claims.get("admin") is True)


def viewer_from_header(secret: str, authorization: str | None) -> Viewer | None:
    """None for anonymous callers; a Viewer for a valid `Bearer` token; Unauthenticated otherwise."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return read_token(secret, token.strip())
