"""Schemathesis against the live API: the app served on a local port, its own OpenAPI 3.1 document loaded
over HTTP, every operation called with generated data as a staff member and as a supplier's representative
(valid data), and as staff again with invalid data.

No response may be a server error, and every response must match the document (status code, content
type, body schema). Deterministic and bounded: Hypothesis derandomized, a few examples per operation, no
example database, well under a minute.

``DELETE /tokens/{id}`` is left out: a generated id may be the caller's own token, which would turn every
later call into a (correct, but useless) 401; revocation is covered in ``tests/test_api.py``.
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.runtime import Runtime
from tests.support.browser_support import served
from tests.webapp.test_api import add_document, cip_sent, make_world, two_cases

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 8


def run_operation(operation: Any, base_url: str, headers: dict[str, str], mode: GenerationMode) -> int:
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

    try:
        check()
    except Unsatisfiable:
        # Invalid data cannot be made for an operation whose every input is free text (or that has none).
        assert mode is GenerationMode.NEGATIVE and calls == 0, operation.label
    return calls


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_a, case_b = two_cases(world)
    cip_sent(world, case_a)
    add_document(world, case_a, "CIP-AAAA-0001")
    started = time.monotonic()
    with served(world.app) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
        schema = schema.exclude(method="DELETE", path="/api/v1/tokens/{token_id}")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        calls = 0
        for who, mode in (("ana", GenerationMode.POSITIVE), ("fornecedor_x", GenerationMode.POSITIVE),
                          ("ana", GenerationMode.NEGATIVE)):
            for operation in operations:
                calls += run_operation(operation, base_url, world.headers(who), mode)
    assert calls > 100
    assert time.monotonic() - started < 60
