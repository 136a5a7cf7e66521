"""Sends the account e-mails queued in ``outbound_emails`` (confirmations, invitations).

The worker calls :func:`send_pending`; delivery goes through the ``enviar_email`` handler found in
the task registry (the engine never imports a handler by name), with the same retry rules as the
case e-mails: a retryable failure waits with exponential backoff, a permanent one stops at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update

from engine import clock
from engine.portal_models import OutboundEmail

log = logging.getLogger(__name__)
EMAILS = OutboundEmail.__table__
MAX_ATTEMPTS = 6


def send_pending(db: Any, settings: Any = None, limit: int = 50) -> int:
    """Send up to ``limit`` due account e-mails; returns how many were delivered."""
    from tasks import registry
    from tasks.context import TaskContext, TaskSettings
    from tasks.errors import PermanentError, RetryableError

    registry.load_handlers()
    handler = registry.get("enviar_email")
    now = clock.now()
    with db.connect() as conn:
        due = conn.execute(select(EMAILS).where(EMAILS.c.status == "pendente", EMAILS.c.next_attempt_at <= now)
                           .order_by(EMAILS.c.id).limit(limit)).all()
    settings = settings or TaskSettings.from_env()
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
        context = TaskContext(settings=settings, case_id=0, protocol="", unit="", now=now,
                              job_id=f"conta-{row.id}")
        payload = {"email_para": row.to_address, "email_assunto": row.subject, "email_corpo": row.body}
        values: dict[str, Any]
        try:
            if handler is None:
                raise PermanentError("Nenhuma implementação registrada para o serviço “enviar_email”.")
            handler(payload, context)
            values = {"status": "enviado", "sent_at": clock.now(), "attempts": row.attempts + 1, "last_error": None}
            sent += 1
        except (RetryableError, PermanentError) as error:
            attempts = row.attempts + 1
            give_up = isinstance(error, PermanentError) or attempts >= MAX_ATTEMPTS
            values = {"attempts": attempts, "last_error": str(error)[:1000],
                      "status": "falhou" if give_up else "pendente",
                      "next_attempt_at": now + dt.timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))}
            log.warning("e-mail de conta %s não enviado: %s", row.id, error)
        with db.begin() as conn:
            conn.execute(update(EMAILS).where(EMAILS.c.id == row.id, EMAILS.c.status == "pendente").values(**values))
    return sent
