"""Local accounts: argon2-hashed passwords, four roles, and server-side login sessions.

A session cookie carries a random token; the database keeps only its SHA-256, so a copy of the database
does not let anyone log in. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InputError
from .db import now
from .models import LoginSession, User

Role = Literal["coordinator", "investigator", "reviewer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# verified against when the user name is unknown, so a wrong name and a wrong password take the same time
_DUMMY_HASH = _hasher.hash("not a real password")


def add_user(db: Session, name: str, role: str, password: str) -> User:
    name = name.strip()
    if not name or len(name) > 120 or any(ch.isspace() for ch in name):
        raise InputError("a user name is 1-120 characters without spaces", field="name")
    if role not in ROLES:
        raise InputError(f"role '{role}' is not one of {', '.join(ROLES)}", field="role")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password needs at least {MIN_PASSWORD} characters", field="password")
    if db.scalar(select(User).where(User.name == name)) is not None:
        raise InputError(f"a user named '{name}' already exists", field="name")
    user = User(name=name, role=role, password_hash=_hasher.hash(password), active=True, created_at=now())
    db.add(user)
    db.commit()
    return user


def authenticate(db: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way)."""
    user = db.scalar(select(User).where(User.name == name.strip()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.commit()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Session, user: User, hours: float = 12.0) -> tuple[str, LoginSession]:
    """A new session for the user: the cookie token (returned once) and the stored row."""
    token = secrets.token_urlsafe(32)
    t = now()
    row = LoginSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf=secrets.token_urlsafe(32),
        created_at=t,
        expires_at=t + timedelta(hours=hours),
    )
    db.add(row)
    db.commit()
    return token, row


def session_user(db: Session, token: str | None) -> tuple[User, LoginSession] | None:
    if not token:
        return None
    row = db.get(LoginSession, _digest(token))
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now().tzinfo)
    if expires < now():
        db.delete(row)
        db.commit()
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


def end_session(db: Session, token: str | None) -> None:
    if token:
        row = db.get(LoginSession, _digest(token))
        if row is not None:
            db.delete(row)
            db.commit()
