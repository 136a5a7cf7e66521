"""The whole database schema: every package's tables in one metadata, created together.

The core tables live in :mod:`engine.store.models`; each concern keeps its own beside its code
(calendar, dashboard aggregates, form versions, portal accounts, process drafts). Importing this
module registers them all, so ``create_schema`` never misses a table, and ``store`` never has to
import the packages above it.
"""

from __future__ import annotations

from sqlalchemy import Engine

from engine.calendar import models as _calendar_models  # noqa: F401  (registers the calendar tables)
from engine.dashboard import aggregates as _aggregates  # noqa: F401  (registers the Painel's tables)
from engine.forms import models as _form_models  # noqa: F401  (registers the form editor tables)
from engine.lgpd import models as _lgpd_models  # noqa: F401  (registers the access log)
from engine.modeling import models as _modeling_models  # noqa: F401  (registers the versioning tables)
from engine.parties import models as _party_models  # noqa: F401  (registers the portal tables)
from engine.parties import proof_models as _proof_models  # noqa: F401  (registers the identity proofing tables)
from engine.store import audit_chain as _audit_chain  # noqa: F401  (registers the hash chain's tables)
from engine.store import idempotency as _idempotency  # noqa: F401  (registers the API idempotency table)
from engine.store import login_sessions as _login_sessions  # noqa: F401  (registers the sessions table)
from engine.store.models import Base

metadata = Base.metadata


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet (idempotent)."""
    metadata.create_all(engine)
