"""Every route declares the action it performs (see docs/architecture.md, "One authorization policy")."""

from modelyard.api.openapi import api_routes
from modelyard.app import create_app
from modelyard.config import Settings


def _declared_actions(dependant) -> list[str]:
    found = []
    for dependency in dependant.dependencies:
        action = getattr(dependency.call, "declared_action", None)
        if action is not None:
            found.append(str(action))
        found.extend(_declared_actions(dependency))
    return found


def test_every_route_declares_its_action(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    routes = list(api_routes(app.routes))
    assert len(routes) > 20
    undeclared = [f"{sorted(route.methods)} {route.path}" for route in routes if not _declared_actions(route.dependant)]
    assert undeclared == []
