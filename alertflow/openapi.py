"""The OpenAPI document, built from the route tables: paths, roles and request bodies."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from . import __version__
from .api.routing import Route
from .errors import CATALOGUE

_PARAM = re.compile(r"{(\w+)}")


def document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in routes:
        doc = inspect.getdoc(route.handler) or ""
        op: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": doc.splitlines()[0] if doc else route.handler.__name__.replace("_", " "),
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in _PARAM.findall(route.path)
            ],
            "responses": {
                "default": {
                    "description": "problem+json on error",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
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
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}},
            }
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
            "description": "Problem types: " + ", ".join(f"{c} ({s})" for c, (s, _) in CATALOGUE.items()),
        },
        "components": {"schemas": schemas, "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
        "security": [{"apiKey": []}],
        "paths": paths,
    }
