"""The published OpenAPI schema, `/openapi.json`: every route with its path parameters, typed.

FastAPI describes what a route function declares. Repository routes do not declare `repo_type`, `namespace` and
`name`: their access dependency reads them from the path (`frontdoor/access.py`), because they arrive raw (see
`raw_path.py`) and the Hub's own errors, not FastAPI's validation, must answer bad ones. So the generated schema
would name `{namespace}` in a path without describing it, and no client or fuzzer could call the route. This
module completes each operation with the parameters of its path template that it lacks, typed from one table,
and describes what FastAPI cannot see: JSON object bodies read by `deps.json_body`, and the one error shape
(`frontdoor/errors.py`) in place of FastAPI's 422 (validation errors answer 400 here).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.deps import json_body

OPENAPI_URL = "/openapi.json"
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
# Path parameters that routes read from the raw path, by name; any other is a plain string.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "repo_type": {"type": "string", "enum": [kind.plural for kind in RepoType]},
    "namespace": {"type": "string"},
    "name": {"type": "string"},
    "revision": {"type": "string", "description": "Branch, tag or commit; `/` inside it encoded as %2F"},
    "path": {"type": "string", "description": "Path of a file or folder in the repository"},
    "prefix": {"type": "string", "description": "Xet CAS prefix, `default`"},
    "xorb_hash": _HEX64,
    "file_hash": _HEX64,
}
_TEMPLATE_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")
_ERROR = {
    "description": "The Hub's error answer: `X-Error-Code` and `X-Error-Message` headers and a JSON body",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_JSON_OBJECT_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route of an app, those of included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI includes routers lazily
            yield from api_routes(route.original_router.routes)


def _depends_on(dependant: Dependant, call: object) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def build_schema(app: FastAPI) -> dict[str, Any]:
    with warnings.catch_warnings():
        # Routes answering two methods (GET and HEAD) get one id twice; ids are rebuilt below.
        warnings.filterwarnings("ignore", message="Duplicate Operation ID")
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    json_routes = {
        (route.path_format, method.lower())
        for route in api_routes(app.routes)
        if _depends_on(route.dependant, json_body)
        for method in route.methods
    }
    for path, operations in schema["paths"].items():
        names = _TEMPLATE_PARAMETER.findall(path)
        for method, operation in operations.items():
            operation["operationId"] = f"{method}{re.sub(r'[^A-Za-z0-9]+', '_', path)}".rstrip("_")
            parameters = operation.setdefault("parameters", [])
            present = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
            for name in names:
                if name not in present:
                    schema_of = PATH_PARAMETERS.get(name, {"type": "string"})
                    parameters.append({"name": name, "in": "path", "required": True, "schema": schema_of})
            if (path, method) in json_routes:
                operation["requestBody"] = _JSON_OBJECT_BODY
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = _ERROR
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = _ERROR_SCHEMA
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed schema at OPENAPI_URL (the app must be created with `openapi_url=OPENAPI_URL`)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
