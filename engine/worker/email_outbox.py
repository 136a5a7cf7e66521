"""Sends the account e-mails queued in ``outbound_emails`` (confirmations, invitations).

The worker calls :func:`send_pending`; delivery goes through the ``enviar_email`` service of the
registry handed to the runtime (the engine never imports a handler), with the same retry rules as the
case e-mails: a retryable failure waits with exponential backoff, a permanent one stops at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update

from engine import clock
from engine.parties.models import OutboundEmail
from engine.services import ServiceRegistry

log = logging.getLogger(__name__)
EMAILS = OutboundEmail.__table__
MAX_ATTEMPTS = 6


def send_pending(db: Any, services: ServiceRegistry | None, settings: Any = None, limit: int = 50) -> int:
    """Send up to ``limit`` due account e-mails through ``services``; returns how many were delivered."""
    now = clock.now()
    with db.connect() as conn:
        due = conn.execute(select(EMAILS).where(EMAILS.c.status == "pendente", EMAILS.c.next_attempt_at <= now)
                           .order_by(EMAILS.c.id).limit(limit)).all()
    sent = 0
    for row in due:
        # Claim it: push the next attempt 5 minutes ahead, only if nobody else did (a second worker, a
        # retry after a crash mid-send picks it up again then).
        with db.begin() as conn:
            claimed = conn.execute(update(EMAILS).where(
                EMAILS.c.id == row.id, EMAILS.c.status == "pendente", EMAILS.c.next_attempt_at == row.next_attempt_at,
            ).values(next_attempt_at=now + dt.timedelta(minutes=5))).rowcount
        if claimed != 1:
            continue
        payload = {"email_para": row.to_address, "email_assunto": row.subject, "email_corpo": row.body}
        if services is None or "enviar_email" not in services:
            error, retryable = "Nenhuma implementação registrada para o serviço “enviar_email”.", False
        else:
            outcome = services.run("enviar_email", payload, case_id=0, protocol="", unit="", now=now,
                                   settings=settings, job_id=f"conta-{row.id}")
            error, retryable = outcome.error, outcome.retryable
        values: dict[str, Any]
        if error is None:
            values = {"status": "enviado", "sent_at": clock.now(), "attempts": row.attempts + 1, "last_error": None}
            sent += 1
        else:
            attempts = row.attempts + 1
            give_up = not retryable or attempts >= MAX_ATTEMPTS
            values = {"attempts": attempts, "last_error": error[:1000],
                      "status": "falhou" if give_up else "pendente",
                      "next_attempt_at": now + dt.timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))}
            log.warning("e-mail de conta %s não enviado: %s", row.id, error)
        with db.begin() as conn:
            conn.execute(update(EMAILS).where(EMAILS.c.id == row.id, EMAILS.c.status == "pendente").values(**values))
    return sent
