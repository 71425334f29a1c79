"""The OpenAPI document, built from the route tables: paths, roles, parameters, request
bodies, and every answer a route can give (its success and the problem types it can answer)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from .. import __version__, naming
from ..errors import CATALOGUE, PROBLEM_CONTENT_TYPE
from ..message import CHANNELS
from .examples import EXAMPLES
from .routing import CLIENT_ID_PARAMS, Route

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# What every route whose shape has it can answer, beyond what it declares (Route.problems).
KEYED = ("unauthorized", "forbidden", "rate-limited")  # a failed key check is rate limited too
WITH_BODY = ("malformed-json", "body-too-large", "unsupported-media-type", "validation")
# A body that is not JSON (Route.accepts) cannot be malformed JSON; its route checks the rest.
RAW_BODY = ("body-too-large", "unsupported-media-type", "validation")
# The URL and header limits (api/middleware.check_size) apply to every request.
ANY = ("uri-too-long", "headers-too-large")
# A write that finds the disk full is refused whole (storage/database.StorageFull), one that
# cannot reach the database (PostgreSQL restarting: StorageUnavailable) answers 503.
WRITES = ("storage-full", "unavailable")
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    **{name: naming.JSON_SCHEMA for name in CLIENT_ID_PARAMS},
    "channel": {"enum": list(CHANNELS)},
    "n": {"type": "integer", "minimum": 1, "maximum": naming.MAX_VERSION},
}


def document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": route.handler.__name__,
            # Grouped as the code is: one tag per resource module (notifications, templates, ...).
            "tags": [route.handler.__module__.rsplit(".", 1)[-1]],
            "summary": summary(route),
            "parameters": parameters(route),
            "responses": responses(route),
        }
        if route.access is not None:
            op["x-alertflow-role"] = route.access
        elif route.role is None:
            op["security"] = []
        else:
            op["x-alertflow-role"] = route.role.name
        if route.body is not None:
            schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[route.body.__name__] = schema
            media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}
            if route.body.__name__ in EXAMPLES:  # tests/test_openapi.py asks every body for one
                media["examples"] = {"example": {"value": EXAMPLES[route.body.__name__]}}
            op["requestBody"] = {"required": True, "content": {"application/json": media}}
        elif route.accepts:
            op["requestBody"] = raw_body(route.accepts)
        paths.setdefault(route.path, {})[route.method.lower()] = op
    schemas["Problem"] = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AlertFlow",
            "version": __version__,
            "description": "Problem types: "
            + ", ".join(f"{c} ({s})" for c, (s, _) in CATALOGUE.items())
            + ". Ids a client chooses (user ids, topic, template and category keys): "
            + naming.RULE
            + ".",
        },
        "components": {"schemas": schemas, "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
        "security": [{"apiKey": []}],
        "paths": paths,
    }


def raw_body(accepts: dict[str, str]) -> dict[str, Any]:
    """A body that is not JSON (Route.accepts): text of each media type, with its example."""
    content = {
        media: {"schema": {"type": "string"}, "examples": {"example": {"value": example}}}
        for media, example in accepts.items()
    }
    return {"required": True, "content": content}


def summary(route: Route) -> str:
    if route.summary:
        return route.summary
    doc = inspect.getdoc(route.handler) or ""
    # The docstring's first paragraph, however many lines it was wrapped over.
    return (
        " ".join(doc.split("\n\n")[0].split()) if doc else route.handler.__name__.replace("_", " ").capitalize() + "."
    )


def parameters(route: Route) -> list[dict[str, Any]]:
    out = [
        {"name": p, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(p, {"type": "string"})}
        for p in route.path_params
    ]
    for q in route.query:
        param: dict[str, Any] = {"name": q.name, "in": "query", "required": q.required, "schema": q.schema}
        if q.description:
            param["description"] = q.description
        out.append(param)
    return out


def problem_codes(route: Route) -> list[str]:
    """The catalogue entries a route can answer with."""
    codes = list(ANY)
    if route.role is not None:
        codes += KEYED
    if route.path_params:
        codes.append("not-found")
    if route.body is not None:
        codes += WITH_BODY
    elif route.accepts:
        codes += RAW_BODY
    if route.method != "GET":
        codes += WRITES
    if route.query or CLIENT_ID_PARAMS.intersection(route.path_params) or "n" in route.path_params:
        codes.append("validation")
    return codes + list(route.problems)


def responses(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in (route.status, *route.also):
        answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if route.content is not None:
            answer["content"] = {route.content: {"schema": route.response} if route.response else {}}
        out[str(status)] = answer
    if route.form:
        out["303"] = {"description": "See Other: where a browser goes next (Location)", "content": {"text/html": {}}}
    for code in problem_codes(route):
        status, title = CATALOGUE[code]
        answer = out.setdefault(str(status), {"description": ""})
        # A page's error (the invite page's 404) or a form's (the sign-in form again, with a
        # 401) is a page for a browser and a problem for other clients.
        content = answer.setdefault("content", {})
        content[PROBLEM_CONTENT_TYPE] = {"schema": PROBLEM_REF}
        if route.form:
            content["text/html"] = {}
        answer["description"] = "; ".join(filter(None, (answer["description"], f"{code}: {title}")))
    return dict(sorted(out.items()))
