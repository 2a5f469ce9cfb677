"""JSON shapes of the model tree and of license lineage flags (Modelyard's own, camelCase like the Hub's)."""

from __future__ import annotations

from typing import Any

from modelyard.domain.license_lineage import LicenseFlag
from modelyard.domain.model_ancestry import TreeNode
from modelyard.services.model_tree import ModelTree

LICENSE_LINEAGE_KEY = "licenseLineage"  # in the tree's answer and in model_info


def model_tree_json(tree: ModelTree) -> dict[str, Any]:
    ancestry = tree.ancestry
    return {
        **_node_json(ancestry.model),
        "ancestors": [
            {**_node_json(node), "depth": ancestry.depth[node.key], "child": ancestry.nodes[ancestry.via[node.key]].id}
            for node in ancestry.ancestors
        ],
        "paths": [list(path) for path in ancestry.paths_to_roots()],
        "cycles": [list(cycle) for cycle in ancestry.cycles()],
        "truncated": ancestry.truncated,
        "children": tree.children,
        "childrenModelCount": sum(tree.children.values()),
        LICENSE_LINEAGE_KEY: [license_flag_json(flag) for flag in tree.license_flags],
    }


def license_flag_json(flag: LicenseFlag) -> dict[str, Any]:
    return {"rule": flag.rule, "message": flag.message, "source": flag.source, "paths": [list(p) for p in flag.paths]}


def _node_json(node: TreeNode) -> dict[str, Any]:
    """A missing node shows only what its derivative's card says of it: its id."""
    if node.missing:
        return {"id": node.id, "missing": True}
    return {
        "id": node.id,
        "missing": False,
        "license": node.license or None,
        "gated": node.gated,
        "bases": [{"id": edge.id, "relation": edge.relation} for edge in node.bases],
    }
