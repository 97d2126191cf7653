"""User accounts: one normalisation of addresses and one way to find or create a user (mail,
contact form, CLI and /admin/users all go through `get_or_create_user`); passwords hashed with
argon2; admins disabled and enabled from /admin/users."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from maildesk.config import Settings
from maildesk.db import Database
from maildesk.models import AuthToken, User, utcnow
from maildesk.tickets.rows import loaded_object

_hasher = PasswordHasher()
# Verifying against this when the address is unknown keeps both answers equally slow.
_DUMMY_HASH = _hasher.hash("maildesk-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


NAME_CHARS = 200  # users.name


def normal_email(email: str) -> str:
    """The one form an address is stored and looked up in: no surrounding space, lower case.
    (RFC 5321 section 2.4 lets a server treat local parts case-sensitively; no mail system a
    helpdesk meets does, and one person must not become two users by the case of a letter.)"""
    return email.strip().lower()


# Built once: a statement object keeps its cache key, so each run skips building and hashing
# it again (this runs for every message the pipeline takes in). Core statements, the rows
# turned into User objects by rows.loaded_object: the ORM's query machinery cost more than
# the lookup itself.
_USERS = User.__table__
_BY_EMAIL = select(User).where(User.email == bindparam("email"))
_ROW_BY_EMAIL = select(*_USERS.c).where(_USERS.c.email == bindparam("email"))
_INSERT_VALUES = dict(email=bindparam("email"), name=bindparam("name"), role="user", is_active=True,
                      created_at=bindparam("created_at"))
_INSERTS = {
    dialect: insert(_USERS).values(**_INSERT_VALUES).on_conflict_do_nothing(index_elements=["email"])
    .returning(*_USERS.c)
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}


async def _flushed_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, with what is pending written first (as a query autoflushes)."""
    if session.sync_session.autoflush and (session.new or session.dirty or session.deleted):
        await session.flush()
    return await session.connection()


async def _user(session: AsyncSession, row: Any, email: str, *, inserted: bool = False) -> User:
    user = loaded_object(session, User, row, inserted=inserted)
    if user is None:  # held with expired attributes: the ORM query refreshes them
        user = await session.scalar(_BY_EMAIL, {"email": email})
        assert user is not None
    return user


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    email = normal_email(email)
    connection = await _flushed_connection(session)
    row = (await connection.execute(_ROW_BY_EMAIL, {"email": email})).mappings().first()
    return None if row is None else await _user(session, row, email)


async def get_or_create_user(session: AsyncSession, email: str, name: str = "") -> tuple[User, bool]:
    """The user of an address inside the caller's write transaction, created on first contact
    as a plain user; True when created here. Race-free across daemons and the CLI: the insert
    does nothing when another transaction created the address first. A name fills an empty one."""
    email, name = normal_email(email), name[:NAME_CHARS]
    user = await user_by_email(session, email)
    created = False
    if user is None:
        statement = _INSERTS["sqlite" if session.bind.dialect.name == "sqlite" else "postgresql"]
        # RETURNING gives the new row (nothing when another transaction's insert won: read it).
        connection = await session.connection()
        values = {"email": email, "name": name, "created_at": utcnow()}
        row = (await connection.execute(statement, values)).mappings().first()
        created = row is not None
        if row is not None:
            user = await _user(session, row, email, inserted=True)
        else:
            user = await user_by_email(session, email)
        assert user is not None
    elif name and not user.name:
        user.name = name
    return user, created


async def set_user(settings: Settings, email: str, *, admin: bool, name: str, password: str | None,
                   clear_password: bool = False) -> bool:
    """Create or update a user; True when created. clear_password: sign-in by emailed link only."""
    db = Database(settings.database_url)
    try:
        async with db.write() as session:
            user, created = await get_or_create_user(session, email, name)
            if admin:
                user.role = "admin"
            if name:
                user.name = name[:NAME_CHARS]
            if password is not None:
                user.password_hash = hash_password(password)
            elif clear_password:
                user.password_hash = None
            user.is_active = True
        return created
    finally:
        await db.dispose()


class UserChangeRefused(ValueError):
    """An admin asked for a change to accounts that would lock the team out; the message says why."""


async def add_admin(session: AsyncSession, email: str, name: str) -> tuple[User, bool]:
    """Make `email` an active admin inside the caller's write transaction (created without a
    password: they sign in with an emailed link). Returns the user and whether it was created."""
    user, created = await get_or_create_user(session, email, name)
    user.role = "admin"
    user.is_active = True
    if name:
        user.name = name[:NAME_CHARS]
    await session.flush()
    return user, created


async def set_active(session: AsyncSession, user_id: int, active: bool, actor: User) -> User | None:
    """Enable or disable a user inside the caller's write transaction; None when unknown.

    A disabled user cannot sign in by password or link, and their sessions are revoked here
    (another daemon's token cache forgets them within web/auth.TOKEN_CACHE_SECONDS). Admins may
    not disable themselves, so the team always keeps the admin who is acting."""
    user = await session.get(User, user_id)
    if user is None:
        return None
    if not active and user.id == actor.id:
        raise UserChangeRefused("You cannot disable your own account.")
    user.is_active = active
    if not active:
        await session.execute(
            update(AuthToken).where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return user
