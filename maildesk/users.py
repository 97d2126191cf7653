"""User accounts: passwords hashed with argon2, created or updated by the CLI."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from maildesk.config import Settings
from maildesk.db import Database
from maildesk.models import User

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


async def set_user(settings: Settings, email: str, *, admin: bool, name: str, password: str | None,
                   clear_password: bool = False) -> bool:
    """Create or update a user; True when created. clear_password: sign-in by emailed link only."""
    db = Database(settings.database_url)
    try:
        async with db.write() as session:
            user = await session.scalar(select(User).where(User.email == email.lower()))
            created = user is None
            if user is None:
                user = User(email=email.lower(), name=name, role="user")
                session.add(user)
            if admin:
                user.role = "admin"
            if name:
                user.name = name
            if password is not None:
                user.password_hash = hash_password(password)
            elif clear_password:
                user.password_hash = None
            user.is_active = True
        return created
    finally:
        await db.dispose()
