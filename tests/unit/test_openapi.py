"""`/openapi.json` describes every route with the path parameters of its template (see api/openapi.py)."""

import re

from starlette.testclient import TestClient

from modelyard.api.openapi import api_routes
from modelyard.app import create_app
from modelyard.config import Settings


def test_every_route_is_published_with_its_path_parameters(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]

    # Left out on purpose: the namespace-less twins of repository routes, which only ever answer RepoNotFound
    # (api/routes_bare_ids.py); publishing them would double the schema for no request that can succeed.
    routes = [route for route in api_routes(app.routes) if route.include_in_schema]
    assert len(routes) > 20
    missing, untyped = [], []
    for route in routes:
        names = re.findall(r"{(\w+)}", route.path_format)
        for method in route.methods:
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {route.path_format}")
                continue
            declared = {p["name"]: p for p in operation["parameters"] if p["in"] == "path"}
            if sorted(declared) != sorted(names):
                missing.append(f"{method} {route.path_format}: {sorted(declared)} != {sorted(names)}")
            untyped += [
                f"{route.path_format} {n}"
                for n, p in declared.items()
                if not p["required"] or "type" not in p["schema"]
            ]
    assert missing == []
    assert untyped == []


def test_operation_ids_are_unique_and_repo_types_are_enumerated(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        schema = client.get("/openapi.json").json()
    ids = [operation["operationId"] for operations in schema["paths"].values() for operation in operations.values()]
    assert len(ids) == len(set(ids))
    info = schema["paths"]["/api/{repo_type}/{namespace}/{name}"]["get"]
    repo_type = next(p for p in info["parameters"] if p["name"] == "repo_type")
    assert repo_type["schema"]["enum"] == ["models", "datasets", "spaces"]
