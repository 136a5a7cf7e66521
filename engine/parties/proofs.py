"""What the two kinds of identity proofing share: one-time codes, masked addresses, the account audit trail and
the SMS outbox.

A code is six digits, stored as a salted SHA-256, valid for :data:`CODE_MINUTES` minutes and for
:data:`MAX_ATTEMPTS` tries; asking for a new one cancels the previous one, and an account may ask for at most
:data:`CODES_PER_HOUR` codes an hour (so a stranger cannot flood someone's e-mail or phone with them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.parties.proof_models import AccountEvent, OutboundSms, VerificationCode

CODE_MINUTES = 15
MAX_ATTEMPTS = 5
CODES_PER_HOUR = 5

TOO_MANY_CODES = "Você pediu muitos códigos na última hora. Tente de novo mais tarde."
WRONG_CODE = "Código incorreto ou vencido. Confira os 6 dígitos ou peça um novo código."


def record_event(session: Session, account_id: int, actor: str, action: str, description: str,
                 case_id: int | None = None, **details: Any) -> None:
    """One line of a portal account's audit trail, in the caller's transaction."""
    session.add(AccountEvent(account_id=account_id, at=clock.now(), actor=actor[:80], action=action[:40],
                             description=description[:500], case_id=case_id, details=details))


def mask_email(address: str) -> str:
    """``maria.santos@example.com`` -> ``m***@e***.com``: enough to recognise, not to learn."""
    local, _, domain = address.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}" if host else f"{local[:1]}***@***"


def mask_phone(number: str) -> str:
    """``(11) 98765-4321`` -> ``(**) *****-4321``."""
    digits = re.sub(r"\D", "", number)
    return f"(**) *****-{digits[-4:]}" if len(digits) >= 4 else "***"


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def codes_left(session: Session, account_id: int) -> bool:
    """Whether the account may ask for another code now."""
    since = clock.now() - dt.timedelta(hours=1)
    asked = session.scalar(select(func.count()).select_from(VerificationCode).where(
        VerificationCode.account_id == account_id, VerificationCode.created_at >= since)) or 0
    return asked < CODES_PER_HOUR


def _live(session: Session, account_id: int, purpose: str, case_id: int | None,
          member_id: int | None) -> list[VerificationCode]:
    return list(session.scalars(select(VerificationCode).where(
        VerificationCode.account_id == account_id, VerificationCode.purpose == purpose,
        VerificationCode.case_id.is_(None) if case_id is None else VerificationCode.case_id == case_id,
        VerificationCode.member_id.is_(None) if member_id is None else VerificationCode.member_id == member_id,
        VerificationCode.used_at.is_(None), VerificationCode.cancelled_at.is_(None))
        .order_by(VerificationCode.id.desc())))


def issue_code(session: Session, *, account_id: int, purpose: str, channel: str, destination: str,
               case_id: int | None = None, member_id: int | None = None, public_name: str = "") -> str:
    """A new code for this account and target (the previous one stops working); returns the code to send."""
    now = clock.now()
    for old in _live(session, account_id, purpose, case_id, member_id):
        old.cancelled_at = now
    code = f"{secrets.randbelow(10 ** 6):06d}"
    salt = secrets.token_hex(16)
    session.add(VerificationCode(account_id=account_id, purpose=purpose, case_id=case_id, member_id=member_id,
                                 channel=channel, destination=destination[:254], salt=salt,
                                 code_hash=_hash(salt, code), public_name=public_name[:200], created_at=now,
                                 expires_at=now + dt.timedelta(minutes=CODE_MINUTES)))
    session.flush()
    return code


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    code: VerificationCode | None


def check_code(session: Session, *, account_id: int, purpose: str, typed: str, case_id: int | None = None,
               member_id: int | None = None) -> CodeCheck:
    """Try ``typed`` against the live code of this target. Every try counts (the caller commits even when it
    fails); the fifth wrong try cancels the code."""
    live = _live(session, account_id, purpose, case_id, member_id)
    code = live[0] if live else None
    now = clock.now()
    if code is None or code.expires_at <= now:
        return CodeCheck(False, None)
    code.attempts += 1
    typed = re.sub(r"\D", "", typed or "")
    if len(typed) == 6 and hmac.compare_digest(code.code_hash, _hash(code.salt, typed)):
        code.used_at = now
        return CodeCheck(True, code)
    if code.attempts >= MAX_ATTEMPTS:
        code.cancelled_at = now
    return CodeCheck(False, code)


def queue_sms(session: Session, number: str, body: str, kind: str) -> None:
    """A text message for the SMS outbox. No sender is configured yet: the rows wait (``pendente``)."""
    session.add(OutboundSms(to_number=number[:30], body=body[:500], kind=kind, created_at=clock.now()))
