"""Marshmallow schemas of the JSON API: they shape the responses and, through apispec, the OpenAPI 3.1 document.

Dates leave as ISO 8601 with the agency's UTC offset (``2026-03-02T10:00:00-03:00``). Query-string
arguments carry their own messages in Portuguese (webargs reports them as a 422 problem).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, fields, validate

from engine.store.protocol import AGENCY_TZ

MAX_PER_PAGE = 100

_INT = {"invalid": "Informe um número inteiro.", "required": "Parâmetro obrigatório."}


class IsoDateTime(fields.DateTime):
    """A timezone-aware moment, written in the agency's time zone with its offset."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.astimezone(AGENCY_TZ).isoformat()
        return str(value)


class ProblemSchema(Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type = fields.String(required=True, metadata={"description": "Sempre about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "O que aconteceu e o que fazer, em português"})
    instance = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "Mensagem por campo (422)"})
    values = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                         metadata={"description": "O que foi enviado, para corrigir e reenviar (422)"})


# -- pagination ---------------------------------------------------------------------------------------
class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, error="A página começa em 1."),
                          error_messages=_INT, metadata={"description": "Página (a partir de 1)"})
    per_page = fields.Integer(load_default=20, error_messages=_INT,
                              validate=validate.Range(min=1, max=MAX_PER_PAGE,
                                                      error=f"Itens por página: de 1 a {MAX_PER_PAGE}."),
                              metadata={"description": f"Itens por página (até {MAX_PER_PAGE})"})


class CaseListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["aberto", "encerrado"],
                                                   error="Situação: use aberto ou encerrado."),
                           metadata={"description": "Filtra pela situação do caso"})


class LinksSchema(Schema):
    self_ = fields.String(required=True, data_key="self")
    first = fields.String(required=True)
    last = fields.String(required=True)
    prev = fields.String(required=True, allow_none=True)
    next = fields.String(required=True, allow_none=True)


class PageSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Total de itens em todas as páginas"})
    pages = fields.Integer(required=True)
    links = fields.Nested(LinksSchema, required=True)


# -- me -----------------------------------------------------------------------------------------------
class PartySchema(Schema):
    role = fields.String(required=True, metadata={"description": "consumidor ou fornecedor"})
    key = fields.String(required=True, metadata={"description": "CPF ou CNPJ"})


class MeTokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    expires_at = IsoDateTime(required=True, allow_none=True)


class MeSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "equipe, consumidor ou fornecedor"})
    name = fields.String(required=True)
    login = fields.String(required=True, metadata={"description": "Usuário (equipe) ou e-mail (portal)"})
    roles = fields.List(fields.String(), required=True)
    unit = fields.String(required=True, allow_none=True)
    parties = fields.List(fields.Nested(PartySchema), required=True)
    token = fields.Nested(MeTokenSchema, required=True, allow_none=True)


# -- cases ----------------------------------------------------------------------------------------------
class CaseSummarySchema(Schema):
    id = fields.Integer(required=True)
    protocol = fields.String(required=True)
    title = fields.String(required=True)
    process_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "aberto ou encerrado"})
    outcome = fields.String(required=True, allow_none=True)
    unit = fields.String(required=True)
    created_at = IsoDateTime(required=True)
    updated_at = IsoDateTime(required=True)
    closed_at = IsoDateTime(required=True, allow_none=True)


class CasePageSchema(PageSchema):
    items = fields.List(fields.Nested(CaseSummarySchema), required=True)


class DataItemSchema(Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    value = fields.String(required=True)


class DataSectionSchema(Schema):
    title = fields.String(required=True)
    items = fields.List(fields.Nested(DataItemSchema), required=True)


class TaskSummarySchema(Schema):
    id = fields.String(required=True, metadata={"description": "Identificador da tarefa (UUID)"})
    case_id = fields.Integer(required=True)
    protocol = fields.String(required=True)
    title = fields.String(required=True)
    role = fields.String(required=True)
    assignee = fields.String(required=True, allow_none=True)
    form_key = fields.String(required=True, allow_none=True)
    due_at = IsoDateTime(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)
    created_at = IsoDateTime(required=True)


class DeadlineSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "legal ou interno"})
    legal_basis = fields.String(required=True)
    starts_at = IsoDateTime(required=True)
    due_at = IsoDateTime(required=True)
    status = fields.String(required=True, metadata={"description": "correndo, cumprido ou vencido"})
    closed_at = IsoDateTime(required=True, allow_none=True)


class CaseDetailSchema(CaseSummarySchema):
    next_step = fields.String(required=True, metadata={"description": "O que acontece agora, em uma frase"})
    data = fields.List(fields.Nested(DataSectionSchema), required=True)
    open_tasks = fields.List(fields.Nested(TaskSummarySchema), required=True)
    deadlines = fields.List(fields.Nested(DeadlineSchema), required=True)


class TimelineEventSchema(Schema):
    id = fields.Integer(required=True)
    at = IsoDateTime(required=True)
    action = fields.String(required=True)
    description = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True, metadata={"description": "Quem fez (só para a equipe)"})


class TimelinePageSchema(PageSchema):
    items = fields.List(fields.Nested(TimelineEventSchema), required=True)


class DocumentSchema(Schema):
    id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    verification_code = fields.String(required=True)
    sha256 = fields.String(required=True)
    created_at = IsoDateTime(required=True)
    pdf_url = fields.String(required=True)


class DocumentPageSchema(PageSchema):
    items = fields.List(fields.Nested(DocumentSchema), required=True)


# -- tasks ----------------------------------------------------------------------------------------------
class TaskPageSchema(PageSchema):
    items = fields.List(fields.Nested(TaskSummarySchema), required=True)


class ChoiceSchema(Schema):
    value = fields.String(required=True)
    label = fields.String(required=True)


class FieldSchema(Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "text, textarea, date, money, choice, cpf, cnpj, "
                                                                 "email, file, phone ou number"})
    required = fields.Boolean(required=True)
    help = fields.String(required=True)
    choices = fields.List(fields.Nested(ChoiceSchema), required=True)
    max_length = fields.Integer(required=True, allow_none=True)
    min_value = fields.String(required=True, allow_none=True)
    max_value = fields.String(required=True, allow_none=True)
    accept = fields.List(fields.String(), required=True)
    max_size_mb = fields.Integer(required=True)


class FormSchema(Schema):
    key = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    fields_ = fields.List(fields.Nested(FieldSchema), required=True, data_key="fields")


class TaskDetailSchema(TaskSummarySchema):
    form = fields.Nested(FormSchema, required=True)
    values = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "O que o caso já sabe, para conferir ou corrigir"})


class FileUploadSchema(Schema):
    """A file sent in a JSON body (a ``file`` field of the form)."""

    nome = fields.String(required=True, metadata={"description": "Nome do arquivo, com a extensão"})
    tipo = fields.String(metadata={"description": "Tipo MIME, por exemplo application/pdf"})
    conteudo_base64 = fields.String(required=True, metadata={"description": "O conteúdo em Base64"})


class ValuesSchema(Schema):
    """The form's values by field name: text, numbers, or a file as ``{nome, tipo, conteudo_base64}``."""

    class Meta:
        unknown = "include"


class CompletedSchema(Schema):
    case_id = fields.Integer(required=True)
    protocol = fields.String(required=True)
    status = fields.String(required=True)
    open_tasks = fields.List(fields.Nested(TaskSummarySchema), required=True,
                             metadata={"description": "As tarefas do caso que agora você pode ver"})


# -- tokens -----------------------------------------------------------------------------------------------
class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "Início do token, para reconhecê-lo"})
    scopes = fields.List(fields.String(), required=True)
    created_at = IsoDateTime(required=True)
    expires_at = IsoDateTime(required=True, allow_none=True)
    last_used_at = IsoDateTime(required=True, allow_none=True)
    revoked_at = IsoDateTime(required=True, allow_none=True)


class TokenPageSchema(PageSchema):
    items = fields.List(fields.Nested(TokenSchema), required=True)


class NewTokenSchema(Schema):
    name = fields.String(required=True, metadata={"description": "Para que serve (o aplicativo que vai usá-lo)"})
    scopes = fields.List(fields.String(), required=True,
                         metadata={"description": "casos:ler, tarefas:escrever, reclamacoes:criar"})
    days = fields.Integer(metadata={"description": "Validade em dias (1 a 365; padrão 365)"})


class IssuedTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "O segredo: mostrado só agora, guarde-o"})


# -- public -------------------------------------------------------------------------------------------------
class PublicDocumentSchema(Schema):
    verification_code = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    protocol = fields.String(required=True)
    sha256 = fields.String(required=True)
    created_at = IsoDateTime(required=True)
    pdf_url = fields.String(required=True)


class YearArgs(Schema):
    year = fields.Integer(validate=validate.Range(min=1991, max=9999, error="Ano inválido (de 1991 em diante)."),
                          error_messages=_INT, metadata={"description": "Ano da classificação (padrão: o atual)"})


class SupplierComplaintsSchema(Schema):
    cnpj = fields.String(required=True)
    year = fields.Integer(required=True)
    fundamentadas = fields.Integer(required=True)
    atendidas = fields.Integer(required=True)
    nao_atendidas = fields.Integer(required=True)
