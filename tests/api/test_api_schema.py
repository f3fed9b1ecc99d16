"""A2: the OpenAPI schema holds: schemathesis calls every operation (in-process over ASGI, authenticated as an
admin, a bounded number of examples each) and checks no answer is a 500 and every answer matches the schema.

The operations are driven one by one with Hypothesis' `@given` rather than `@schema.parametrize()`, so that
each runs against the `api` fixture's real store on SQLite and PostgreSQL alike.
"""

# ruff: noqa: F811
from __future__ import annotations

from typing import Any

import schemathesis
from api_world import api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 10
SLOW = {"POST /simulate": 2}  # each example builds a throw-away store


def test_A2_every_operation_answers_within_its_schema_and_never_500(api: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = api.auth("admin")
    failures: list[str] = []
    operations = 0
    statuses: dict[int, int] = {}
    unauthenticated: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        operations += 1
        try:
            _exercise(operation, label, headers, statuses, unauthenticated)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{label}: {str(exc)[:600]}")
    assert operations > 40
    assert sum(statuses.values()) >= operations * 2, statuses
    assert not unauthenticated, unauthenticated  # every call but a failed login was authenticated
    assert statuses.get(200, 0) + statuses.get(201, 0) > operations, statuses  # and most got through
    assert not failures, "\n\n".join(failures)


def _exercise(operation: Any, label: str, headers: dict[str, str], statuses: dict[int, int],
              unauthenticated: list[str]) -> None:
    """Hypothesis drives one operation: each generated case is called and its answer checked."""

    @given(case=operation.as_strategy())
    @settings(max_examples=SLOW.get(label, EXAMPLES), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 401 and label != "POST /auth/login":
            unauthenticated.append(label)

    run()
