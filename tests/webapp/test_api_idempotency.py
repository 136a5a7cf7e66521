"""Issue 13, finding 5: POST on the API honours ``Idempotency-Key``: a retried request returns the first answer
and creates nothing new; the same key with other content is refused; keys belong to their caller."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.store.models import Case
from tests.webapp.test_api import COMPLAINT_BODY, World, world  # noqa: F401 (fixture)


def cases(of: World) -> int:
    with of.runtime.Session() as session:
        return session.scalar(select(func.count()).select_from(Case))


def post(to: World, who: str, body: dict, key: str | None) -> object:
    headers = to.headers(who) | ({"Idempotency-Key": key} if key else {})
    return to.client().post("/api/v1/complaints", headers=headers, json=body)


def test_a_retried_complaint_is_filed_once(world: World) -> None:  # noqa: F811
    first = post(world, "consumidor_a", COMPLAINT_BODY, "app-123-reclamacao-1")
    assert first.status_code == 201
    again = post(world, "consumidor_a", COMPLAINT_BODY, "app-123-reclamacao-1")
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert cases(world) == 1


def test_the_same_key_with_other_content_is_refused(world: World) -> None:  # noqa: F811
    assert post(world, "consumidor_a", COMPLAINT_BODY, "chave-1").status_code == 201
    other = post(world, "consumidor_a", dict(COMPLAINT_BODY, pedido="Outro pedido, bem diferente."), "chave-1")
    assert other.status_code == 422 and other.mimetype == "application/problem+json"
    assert "já foi usada com outro conteúdo" in other.json["detail"]
    assert cases(world) == 1


def test_keys_belong_to_their_caller_and_are_optional(world: World) -> None:  # noqa: F811
    assert post(world, "consumidor_a", COMPLAINT_BODY, "mesma-chave").status_code == 201
    assert post(world, "consumidor_b", COMPLAINT_BODY, "mesma-chave").status_code == 201  # another caller
    assert post(world, "consumidor_a", COMPLAINT_BODY, None).status_code == 201
    assert post(world, "consumidor_a", COMPLAINT_BODY, None).status_code == 201  # no key: each one acts
    assert cases(world) == 4


def test_an_error_answer_is_replayed_too_and_a_bad_key_is_refused(world: World) -> None:  # noqa: F811
    bad = dict(COMPLAINT_BODY, fatos="")
    first = post(world, "consumidor_a", bad, "erro-1")
    assert first.status_code == 422
    assert post(world, "consumidor_a", bad, "erro-1").json == first.json
    assert post(world, "consumidor_a", COMPLAINT_BODY, "x" * 129).status_code == 400
    assert cases(world) == 0
