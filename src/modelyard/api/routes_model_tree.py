"""The model tree: `GET /api/models/{namespace}/{name}/model-tree` (Modelyard's own; the Hub shows it on pages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from modelyard.api.render_model_tree import model_tree_json
from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import get_actor, get_hub
from modelyard.services import model_tree
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()


@router.get("/api/models/{namespace}/{name}/model-tree")
def tree(
    record: RepoRecord = Depends(repo_access(Action.READ, RepoType.MODEL)),
    actor: Actor | None = Depends(get_actor),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return model_tree_json(model_tree.model_tree(hub, actor, record))
