"""Official documents: each kind renders to escaped HTML and to a real PDF (read back with pypdf)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
import weasyprint

from engine import clock
from tasks import registry
from tasks.context import TaskContext, TaskSettings
from tasks.documents import (
    CODE_ALPHABET,
    KINDS,
    DocumentDraft,
    deadline_text,
    gerar_documento,
    long_date,
    money_in_words,
    new_verification_code,
    normalize_verification_code,
    render_document,
    render_pdf,
)
from tasks.errors import PermanentError

PROTOCOL = "CAP-2026-000123"
PUBLIC_URL = "https://procon.example.gov.br"
NASTY = "Loja <script>alert('x')</script> & Filhos"

SUPPLIER = {
    "fornecedor_nome": "Loja Exemplo Comércio Ltda",
    "fornecedor_cnpj": "12.ABC.345/01DE-35",
    "fornecedor_endereco": "Rua das Flores, 123 – Centro – São Paulo/SP – CEP 01001-000",
}
DEADLINE = {"prazo_dias": 10, "prazo_vencimento": "2026-03-12T23:59:59.999999-03:00"}

DATA: dict[str, dict[str, Any]] = {
    "notificacao": {
        **SUPPLIER, **DEADLINE,
        "consumidor_nome": "Maria da Silva", "consumidor_cpf": "123.456.789-09",
        "fatos": "Comprou uma geladeira em 10/01/2026.\n\nO produto não foi entregue.",
        "pedido": "Entrega do produto ou devolução do valor pago.",
        "unidade_nome": "Procon Capital", "unidade_municipio": "São Paulo",
    },
    "termo_audiencia": {
        **SUPPLIER,
        "consumidor_nome": "Maria da Silva", "data_audiencia": "2026-03-02", "hora_audiencia": "14:00",
        "local_ou_link": "Sala 2", "acordo": "sim", "conciliador_nome": "Carlos Conciliador",
        "preposto_nome": "Paulo Preposto",
        "termo": "O fornecedor entregará a geladeira no endereço da consumidora.",
        "prazo_cumprimento": "2026-03-17",
    },
    "auto_infracao": {
        **SUPPLIER, **DEADLINE, "prazo_dias": 20, "prazo_vencimento": "2026-03-23",
        "local_infracao": "Rua das Flores, 123, São Paulo/SP",
        "fatos": "Produtos expostos sem preço.",
        "dispositivo_infringido": "Art. 31 da Lei 8.078/1990.",
        "determinacao": "Afixar os preços de todos os produtos expostos.",
        "fiscal_nome": "João Fiscal", "fiscal_matricula": "98765", "orgao_julgador": "Diretoria de Fiscalização",
        "auto_numero": "0042/2026",
    },
    "decisao": {
        **SUPPLIER, **DEADLINE,
        "decisao_texto": "Relatório.\n\nFundamentação: a infração está comprovada.",
        "decisao_dispositivo": "Julgo subsistente o auto de infração.",
        "autoridade_nome": "Dra. Ana Julgadora", "multa_valor": "15234.50",
    },
}


@pytest.fixture
def context(frozen_clock: clock.FrozenClock) -> TaskContext:
    settings = TaskSettings(public_base_url=PUBLIC_URL, agency_name="Procon Estadual")
    return TaskContext(settings=settings, case_id=7, protocol=PROTOCOL, unit="CAP", now=clock.now())


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_renders_a_real_pdf(kind: str, context: TaskContext) -> None:
    draft = render_document(kind, dict(DATA[kind]), context)

    assert isinstance(draft, DocumentDraft)
    assert draft.kind == kind
    assert draft.pdf.startswith(b"%PDF-")
    assert draft.sha256 == hashlib.sha256(draft.pdf).hexdigest()
    assert re.fullmatch(rf"[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}",
                        draft.verification_code)
    text = pdf_text(draft.pdf)
    assert PROTOCOL in text
    assert draft.verification_code in text
    assert f"{PUBLIC_URL}/documentos/verificar/{draft.verification_code}" in text
    assert "Procon Estadual" in text
    assert "12.ABC.345/01DE-35" in text
    assert "Fundamento legal".upper() in text.upper()
    assert draft.title.upper() in text.upper()
    assert "2 de março de 2026" in text
    assert draft.verification_code in draft.html
    assert PROTOCOL in draft.html


def test_deadlines_in_words_and_dates(context: TaskContext) -> None:
    texts = {kind: pdf_text(render_document(kind, dict(DATA[kind]), context).pdf) for kind in KINDS}

    assert "10 (dez) dias corridos, contados da ciência, vencendo em 12/03/2026" in texts["notificacao"]
    assert "20 (vinte) dias corridos, contados da ciência, vencendo em 23/03/2026" in texts["auto_infracao"]
    assert ("15 (quinze) dias corridos, contados da data desta audiência, vencendo em 17/03/2026"
            in texts["termo_audiencia"])
    assert "10 (dez) dias corridos, contados da ciência, vencendo em 12/03/2026" in texts["decisao"]
    assert "R$ 15.234,50 (quinze mil duzentos e trinta e quatro reais e cinquenta centavos)" in texts["decisao"]
    assert "até 3 (três) testemunhas" in texts["auto_infracao"]
    assert "Auto de Infração nº 0042/2026".upper() in texts["auto_infracao"].upper()
    assert "às 10:00" in texts["auto_infracao"]  # 13:00 UTC is 10:00 in São Paulo
    assert "São Paulo, 2 de março de 2026" in texts["notificacao"]
    assert "***.456.789-**" in texts["notificacao"] and "123.456.789-09" not in texts["notificacao"]


def test_deadline_wording() -> None:
    assert deadline_text(1, "uteis", "contados da ciência", dt.date(2026, 3, 3)) == (
        "1 (um) dia útil, contados da ciência, vencendo em 03/03/2026")
    assert deadline_text(15, "uteis", "contados da ciência", dt.date(2026, 3, 23)) == (
        "15 (quinze) dias úteis, contados da ciência, vencendo em 23/03/2026")
    assert long_date(dt.date(2026, 4, 1)) == "1º de abril de 2026"
    assert money_in_words(Decimal("0.50")) == "cinquenta centavos"


def test_business_days_and_custom_start(context: TaskContext) -> None:
    data = dict(DATA["notificacao"], prazo_tipo="uteis", prazo_contagem="contados do recebimento desta notificação")

    text = pdf_text(render_document("notificacao", data, context).pdf)

    assert "10 (dez) dias úteis, contados do recebimento desta notificação, vencendo em 12/03/2026" in text


def test_cip_variant_of_the_notification(context: TaskContext) -> None:
    data = dict(DATA["notificacao"], cip_texto="Solicitamos solução no prazo.")

    draft = render_document("notificacao", data, context)

    assert draft.title == "Carta de Informações Preliminares (CIP)"
    assert "Solicitamos solução no prazo." in pdf_text(draft.pdf)


def test_html_escapes_user_data(context: TaskContext) -> None:
    data = dict(DATA["notificacao"], fornecedor_nome=NASTY, fatos="<b>negrito</b>\n<img src=x onerror=alert(1)>")

    draft = render_document("notificacao", data, context)

    assert "<script>" not in draft.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Filhos" in draft.html
    assert "<img" not in draft.html and "<b>negrito" not in draft.html
    assert "&lt;b&gt;negrito&lt;/b&gt;<br>&lt;img src=x onerror=alert(1)&gt;" in draft.html
    assert NASTY in pdf_text(draft.pdf)  # shown as text, not interpreted


def test_pdf_fetches_no_outside_resource(tmp_path: Path) -> None:
    """Even if markup got through, WeasyPrint may only read ``data:`` URLs: no local file, no network."""
    from PIL import Image

    picture = tmp_path / "foto.png"
    Image.new("RGB", (20, 20), "red").save(picture)
    markup = f'<html><body><p>ok</p><img src="file://{picture}"><img src="http://127.0.0.1:9/x.png"></body></html>'

    assert len(pypdf.PdfReader(io.BytesIO(weasyprint.HTML(string=markup).write_pdf())).pages[0].images) == 1
    assert len(pypdf.PdfReader(io.BytesIO(render_pdf(markup))).pages[0].images) == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_missing_data_is_permanent_and_named(kind: str, context: TaskContext) -> None:
    with pytest.raises(PermanentError) as caught:
        render_document(kind, {}, context)

    message = str(caught.value)
    assert message.startswith(f"Faltam dados para gerar o documento “{KINDS[kind].title}”:")
    for key in KINDS[kind].required:
        assert f"({key})" in message
    if KINDS[kind].deadline_required:
        assert "prazo em dias (prazo_dias)" in message
        assert "data de vencimento do prazo (prazo_vencimento)" in message


def test_invalid_values_are_permanent(context: TaskContext) -> None:
    with pytest.raises(PermanentError, match=r"prazo em dias \(prazo_dias\) deve ser um número inteiro"):
        render_document("notificacao", dict(DATA["notificacao"], prazo_dias="dez"), context)
    with pytest.raises(PermanentError, match=r"\(prazo_vencimento\) não contém uma data válida"):
        render_document("notificacao", dict(DATA["notificacao"], prazo_vencimento="amanhã"), context)
    with pytest.raises(PermanentError, match=r"\(acordo\) deve ser"):
        render_document("termo_audiencia", dict(DATA["termo_audiencia"], acordo="talvez"), context)
    with pytest.raises(PermanentError, match="Tipo de documento desconhecido: “oficio”"):
        render_document("oficio", {}, context)
    no_protocol = TaskContext(settings=context.settings, case_id=7, protocol="", unit="CAP", now=context.now)
    with pytest.raises(PermanentError, match="número de protocolo do caso"):
        render_document("notificacao", dict(DATA["notificacao"]), no_protocol)


def test_hearing_without_agreement_has_no_deadline(context: TaskContext) -> None:
    data = {key: value for key, value in DATA["termo_audiencia"].items() if key != "prazo_cumprimento"}
    data["acordo"] = "nao"

    text = pdf_text(render_document("termo_audiencia", data, context).pdf)

    assert "Não houve acordo entre as partes." in text
    assert "vencendo em" not in text


def test_gerar_documento_saves_through_the_engine(context: TaskContext) -> None:
    saved: list[DocumentDraft] = []

    def save(draft: DocumentDraft) -> dict[str, Any]:
        saved.append(draft)
        return {"documento_id": 1, "codigo": draft.verification_code, "sha256": draft.sha256}

    context.save_document = save
    result = gerar_documento(dict(DATA["decisao"], documento_tipo="decisao"), context)

    assert len(saved) == 1
    assert result == {"documento_decisao": {"documento_id": 1, "codigo": saved[0].verification_code,
                                            "sha256": saved[0].sha256}}
    assert saved[0].title == "Decisão Administrativa de Primeira Instância"


def test_gerar_documento_requires_a_kind_and_a_store(context: TaskContext) -> None:
    with pytest.raises(PermanentError, match=r"Falta o tipo de documento \(documento_tipo\)"):
        gerar_documento({}, context)
    with pytest.raises(PermanentError, match="save_document"):
        gerar_documento(dict(DATA["decisao"], documento_tipo="decisao"), context)


def test_verification_codes() -> None:
    codes = {new_verification_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert normalize_verification_code(code.lower().replace("-", " ")) == code
    assert normalize_verification_code("K7Q4-M2XP-9TD0") is None  # 0 is not in the alphabet
    assert normalize_verification_code("K7Q4") is None
    assert not set("01ILOU") & set(CODE_ALPHABET)


def test_handlers_module_registers_every_topic() -> None:
    registry.load_handlers()
    import tasks.handlers  # noqa: F401  (what the engine imports)

    assert {"consultar_cnpj", "enviar_email", "inscrever_divida_ativa", "gerar_documento"} <= set(registry.names())
    assert registry.get("gerar_documento") is gerar_documento
