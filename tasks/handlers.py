"""Importing this module registers every built-in service-task handler (imported once, through
:func:`tasks.registry.load_handlers`, when a registry is built).

============================ ============================================= =========================
topic (``camunda:topic``)    what it does                                  module
============================ ============================================= =========================
``consultar_cnpj``           looks the supplier up by CNPJ                 :mod:`tasks.cnpj`
``enviar_email``             sends an e-mail notification through SMTP     :mod:`tasks.email`
``inscrever_divida_ativa``   registers an unpaid fine in the dívida ativa  :mod:`tasks.divida_ativa`
``gerar_documento``          renders an official document (HTML + PDF)     :mod:`tasks.documents`
============================ ============================================= =========================
"""

from __future__ import annotations

from tasks import cnpj, divida_ativa, documents, email

__all__ = ["cnpj", "divida_ativa", "documents", "email"]
