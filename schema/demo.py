"""Types for demo sign-in: the users the web app offers and the session it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.catalogue.users import DemoSession
from schema.types import User


@strawberry.type(description="A demo user the web app offers to sign in as.")
class DemoUser:
    id: strawberry.ID
    name: str
    rating_count: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DemoUser:
        """A demo-users row as its GraphQL type."""
        return cls(id=strawberry.ID(str(row["id"])), name=row["name"], rating_count=row["rating_count"])


@strawberry.type(description="A bearer token and the user it speaks for.")
class Session:
    token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    expires_at: datetime
    user: User

    @classmethod
    def from_model(cls, session: DemoSession) -> Session:
        """A demo session as its GraphQL type."""
        user = session.user
        return cls(
            token=session.token,
            expires_at=session.expires_at,
            user=User(id=strawberry.ID(str(user["id"])), name=user["name"]),
        )
