"""Portal do Consumidor, "Atendimentos no Procon" (/portal/consumidor/identidade): how a consumer reaches the cases
registered at the counter, by phone or by e-mail under its CPF (:mod:`engine.parties.identity`).

Until it proves who it is, an account sees only the complaints it filed itself. It may:

- type a case's protocol and get a one-time code at the e-mail (or phone, when ``PORTAL_SMS`` is on) recorded on
  that case, then type the code: that case opens. The answer is the same whatever the protocol, so a stranger
  who knows a CPF learns nothing;
- sign in with gov.br (when configured): every case of the CPF opens;
- show a photo ID to an attendant at the Procon (the staff's "Contas do portal" page): every case opens.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.parties.identity import ProofError, request_case_code, verify_case_code, wrong_code_errors
from engine.parties.models import PortalAccount
from webapp.portal.auth import party_required
from webapp.runtime_access import runtime
from webapp.security import public_base_url

bp = Blueprint("portal_identity", __name__, url_prefix="/portal/consumidor/identidade")

SENT = ("Se este protocolo é de um atendimento com o seu CPF e tem {onde} registrado, enviamos para lá um código "
        "de 6 dígitos. Digite-o abaixo; ele vale por 15 minutos.")


def render(values: dict[str, str] | None = None, errors: dict[str, str] | None = None, step: str = "protocolo",
           status: int = 200) -> Any:
    config = current_app.config
    return render_template("portal/identidade.html", valores=values or {}, erros=errors or {}, etapa=step,
                           comprovada=bool(g.party_actor.parties), sms=bool(config.get("PORTAL_SMS")),
                           govbr=config.get("OIDC_ISSUER") and (config.get("OIDC_LABEL") or "gov.br")), status


def _values() -> dict[str, str]:
    return {"protocolo": request.form.get("protocolo", "").strip()[:40],
            "canal": request.form.get("canal", "email"), "codigo": request.form.get("codigo", "")[:12]}


@bp.route("/")
@party_required("consumidor")
def index() -> Any:
    return render()


@bp.route("/codigo", methods=["POST"])
@party_required("consumidor")
def send_code() -> Any:
    values = _values()
    if values["canal"] == "sms" and not current_app.config.get("PORTAL_SMS"):
        return render(values, {"canal": "O envio por SMS não está disponível. Escolha o e-mail."}, status=422)
    try:
        with runtime().Session.begin() as session:
            request_case_code(session, session.get(PortalAccount, g.party_account.id), values["protocolo"],
                              values["canal"], public_base_url())
    except ProofError as error:
        return render(values, error.errors, status=422)
    flash(SENT.format(onde="um e-mail" if values["canal"] == "email" else "um telefone celular"), "info")
    return render(values, step="codigo")


@bp.route("/codigo/confirmar", methods=["POST"])
@party_required("consumidor")
def confirm_code() -> Any:
    values = _values()
    with runtime().Session.begin() as session:  # a wrong try is saved too: the tries are counted
        case_id = verify_case_code(session, session.get(PortalAccount, g.party_account.id), values["protocolo"],
                                   values["codigo"])
    if case_id is None:
        return render(values, wrong_code_errors(), step="codigo", status=422)
    flash("Atendimento vinculado à sua conta: agora você o acompanha por aqui.", "sucesso")
    return redirect(url_for("portal_cases.case", case_id=case_id))
