"""Staff accounts: create them, check and change passwords (hashed with Werkzeug's scrypt), deactivate.

A staff password has at least 12 characters and is not easy to guess: zxcvbn (which knows the 30,000
commonest passwords, keyboard walks, repetitions and the person's own name) must rate it 3 of 4 or
more. Checking a password takes the same time whether the user exists or not. A password change or a
deactivation ends every open session of that person (:mod:`engine.store.login_sessions`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from engine.actors import Actor
from engine.roles import STAFF_ROLES
from engine.store.login_sessions import STAFF, revoke_all
from engine.store.models import User

MIN_PASSWORD = 12
MIN_STRENGTH = 3  # zxcvbn's score, 0 to 4
#: checked against when the user does not exist, so that an unknown login takes as long as a known one
_NOBODY_HASH = generate_password_hash("ninguém tem esta senha")


class WeakPassword(ValueError):
    """A password the policy refuses; ``str(error)`` says why, in Portuguese."""


def check_password_policy(password: str, username: str = "", full_name: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"A senha precisa ter pelo menos {MIN_PASSWORD} caracteres.")
    hints = [username, full_name.replace(" ", ""), *full_name.split(), "procon", "senha"]
    if zxcvbn(password[:100], user_inputs=[h for h in hints if h])["score"] < MIN_STRENGTH:
        raise WeakPassword("Senha fácil de adivinhar (comum, repetida, sequência de teclado ou com o seu nome). "
                           "Escolha outra, por exemplo uma frase com três ou quatro palavras.")


def create_user(session: Session, username: str, full_name: str, roles: list[str], password: str,
                email: str = "", unit: str = "CAP") -> User:
    unknown = [r for r in roles if r not in STAFF_ROLES]
    if unknown:
        raise ValueError(f"Papéis desconhecidos: {', '.join(unknown)}")
    check_password_policy(password, username, full_name)
    user = User(username=username.strip().lower(), full_name=full_name, email=email, unit=unit,
                roles_text=" ".join(roles), password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    matches = check_password_hash(user.password_hash if user is not None else _NOBODY_HASH, password)
    if user is None or not user.active or not matches:
        return None
    return user


def change_password(session: Session, user: User, password: str) -> int:
    """Set a new password (checked against the policy) and end every session; returns how many ended."""
    check_password_policy(password, user.username, user.full_name)
    user.password_hash = generate_password_hash(password)
    return revoke_all(session, STAFF, user.id, "senha_alterada")


def deactivate(session: Session, user: User) -> int:
    """The person can no longer sign in; every open session ends now."""
    user.active = False
    return revoke_all(session, STAFF, user.id, "desativado")


def actor_for(user: User) -> Actor:
    return Actor(user.username, user.full_name, user.roles, user.unit)
