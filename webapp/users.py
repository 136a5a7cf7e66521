"""Staff accounts: create them and check passwords (hashed with Werkzeug's scrypt)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.actors import Actor
from engine.roles import STAFF_ROLES
from engine.store.models import User


def create_user(session: Session, username: str, full_name: str, roles: list[str], password: str,
                email: str = "", unit: str = "CAP") -> User:
    unknown = [r for r in roles if r not in STAFF_ROLES]
    if unknown:
        raise ValueError(f"Papéis desconhecidos: {', '.join(unknown)}")
    if len(password) < 8:
        raise ValueError("A senha precisa ter pelo menos 8 caracteres.")
    user = User(username=username.strip().lower(), full_name=full_name, email=email, unit=unit,
                roles_text=" ".join(roles), password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def actor_for(user: User) -> Actor:
    return Actor(user.username, user.full_name, user.roles, user.unit)
