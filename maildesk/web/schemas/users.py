"""The API's shapes for sign-in and users: login and sign-in-link bodies, users as callers see them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from maildesk.models import User
from maildesk.web.schemas.fields import Password, Strict


class LoginIn(Strict):
    email: Annotated[str, Meta(max_length=320)]
    password: Password


class MagicLinkIn(Strict):
    email: Annotated[str, Meta(max_length=320)]


class UserOut(Struct):
    id: int
    email: str
    name: str
    role: str

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(id=user.id, email=user.email, name=user.name, role=user.role)


class AdminUserOut(UserOut):
    is_active: bool = True
    created_at: datetime | None = None

    @classmethod
    def of(cls, user: User) -> "AdminUserOut":
        return cls(id=user.id, email=user.email, name=user.name, role=user.role,
                   is_active=user.is_active, created_at=user.created_at)


class LoginOut(Struct):
    token: str
    user: UserOut


class UserPage(Struct):
    items: list[AdminUserOut]
    total: int
    page: int
    page_size: int
