"""A fuzz test of the whole API, driven by its own /openapi.json (schemathesis).

A real ``alertflow serve`` answers with a real owner key, so every authenticated route is
exercised past its key check. Each operation gets EXAMPLES generated requests, half of them
valid by the document and half not, and a path that names a user, template, topic or
category names an existing one half the time. No answer may be a 5xx, and every answer's
status must be one the document lists for that operation, with the media type and body it lists, and
an operation that needs a key must refuse the request without it. A method a path does not
document is a 405 that lists the methods it does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.process import Server

# Requests per operation. The document has ~60 operations: this keeps the whole test to a few
# thousand requests. A failure is shrunk to its simplest form and shown with a curl line.
EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]
# Bodies that are not JSON (POST /v1/users/import's CSV and NDJSON, schema a string) go as the
# generated text; schemathesis has no serializer of its own for application/x-ndjson.
schemathesis.serializer.alias(["text/csv", "application/x-ndjson"], "text/plain")
# What the fixture creates, by the collection a path's {key} or {user_id} is in.
EXISTING = {"users": "u1", "templates": "welcome", "topics": "news", "categories": "alerts"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("fuzz"))).start()
    seeds = [
        ("PUT", "/v1/users/u1", {"email": "ann@example.com", "phone": "+15550100"}),
        ("POST", "/v1/templates", {"key": "welcome", "channels": {"email": {"subject": "Hi", "text": "Hi {{name}}"}}}),
        ("PUT", "/v1/topics/news/subscribers", {"user_ids": ["u1"]}),
        ("PUT", "/v1/categories/alerts", {"priority": "high"}),
    ]
    for method, path, body in seeds:
        assert server.request(method, path, body).status_code in (200, 201), path
    yield server
    server.stop()


def existing(path: str) -> dict[str, str]:
    """Path parameters that name what the fixture created, for this operation's path."""
    found = {}
    if "{user_id}" in path:
        found["user_id"] = EXISTING["users"]
    match = re.match(r"/v1/(\w+)/{key}", path)
    if match:
        found["key"] = EXISTING[match[1]]
    return found


def cases(operation: Any) -> st.SearchStrategy[Any]:
    generated = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )
    known = existing(operation.path)
    if not known:
        return generated

    def aim(case: Any, at_existing: bool) -> Any:
        if at_existing and case.path_parameters is not None:
            case.path_parameters.update(known)
        return case

    return st.builds(aim, generated, st.booleans())


def fuzz(operation: Any, server: Server) -> None:
    """EXAMPLES requests to one operation; raises what the checks found."""

    @given(case=cases(operation))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {server.api_key}"}, checks=CHECKS, timeout=30)

    run()


def test_no_request_gets_a_5xx_or_an_undocumented_status(served: Server) -> None:
    # Not schemathesis' pytest plugin, which does not load under pytest 9: one loop instead,
    # which also reports every failing operation rather than the first.
    api = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            fuzz(operation, served)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups what it found
            failures[operation.label] = str(exc)
    assert operations > 50, "the document lists every route"
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def served_by(spec: dict[str, Any], method: str, url: str) -> bool:
    """Whether some documented path takes ``method`` at ``url`` (/v1/notifications/publish is
    also /v1/notifications/{id})."""
    return any(
        method.lower() in operations and re.fullmatch(re.sub(r"{\w+}", "[^/]+", path), url)
        for path, operations in spec["paths"].items()
    )


def test_a_method_a_path_does_not_document_is_a_405_problem_listing_those_it_does(served: Server) -> None:
    spec = requests.get(f"{served.url}/openapi.json", timeout=30).json()
    checked = 0
    for path, operations in spec["paths"].items():
        documented = {method.upper() for method in operations}
        url = path.replace("{user_id}", "u1").replace("{channel}", "sms").replace("{key}", "welcome")
        url = re.sub(r"{\w+}", "1", url)
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - documented):
            if served_by(spec, method, url):
                continue
            resp = served.request(method, url)
            assert resp.status_code == 405, (method, path, resp.text)
            assert resp.headers["Content-Type"].startswith("application/problem+json")
            assert set(resp.headers["Allow"].split(",")) >= documented, (method, path, resp.headers["Allow"])
            checked += 1
    assert checked > 100
