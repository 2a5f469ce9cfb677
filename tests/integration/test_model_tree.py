"""The model tree and license lineage on a small family made with huggingface_hub: model cards with `base_model`
and `license`, files that tell the relation (adapter_config.json, a GGUF file), a gated Llama 2 base, a merge of
two parents whose licenses clash, a cycle, a missing base, and private relatives that answer like missing ones.

    base (llama2, gated) ─┬─ ft-apache (apache-2.0: flagged)       gguf (llama2, *.gguf: quantized)
                          ├─ ft-llama (llama2: clean) ──┐          adapter (no license, adapter_config.json)
                          │                             ├─ merge (llama2; parents llama2 + cc-by-nc-4.0: flagged)
                          │           nc-root (cc-by-nc-4.0) ──┘
                          └─ bob's private fine-tune (counted for bob only)
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, ModelCardData

LLAMA2_KEEP = "llama2-keep-license"
GATED_NEEDS_LICENSE = "gated-base-needs-license"
MERGE_CLASH = "merge-parents-incompatible"
NON_COMMERCIAL = "non-commercial-stays-non-commercial"
MISSING_BASE = "nobody-here/not-on-this-hub"


@dataclass(frozen=True)
class Family:
    base: str
    ft_apache: str
    ft_llama: str
    adapter: str
    gguf: str
    nc_root: str
    merge: str
    cycle_a: str
    cycle_b: str
    on_missing: str
    secret_base: str  # bob's private model
    on_secret: str  # alice's public fine-tune of it
    bob_private_ft: str  # bob's private fine-tune of `base`


def _card(**data: Any) -> bytes:
    card = ModelCard.from_template(ModelCardData(**data), model_description="A model of the family.")
    return str(card).encode()


def _publish(api: HfApi, repo_id: str, files: dict[str, bytes], private: bool = False) -> str:
    api.create_repo(repo_id, private=private)
    operations = [CommitOperationAdd(path, content) for path, content in files.items()]
    api.create_commit(repo_id, operations, commit_message="A member of the family")
    return repo_id


@pytest.fixture(scope="module")
def family(api: HfApi, bob_api: HfApi, alice, bob) -> Family:
    prefix = f"{alice.name}/fam-{uuid.uuid4().hex[:6]}"
    config = json.dumps({"model_type": "llama", "hidden_size": 8}).encode()
    weights = {"config.json": config, "model.safetensors": b"not really weights"}

    base = _publish(api, f"{prefix}-Llama-2-base", {"README.md": _card(license="llama2"), **weights})
    api.update_repo_settings(base, gated="manual")
    ft_apache = _publish(api, f"{prefix}-ft-apache", {"README.md": _card(license="apache-2.0", base_model=base)})
    ft_llama = _publish(api, f"{prefix}-ft-llama", {"README.md": _card(license="llama2", base_model=base)})
    adapter = _publish(
        api,
        f"{prefix}-adapter",
        {"README.md": _card(base_model=base), "adapter_config.json": b'{"peft_type": "LORA", "r": 8}'},
    )
    gguf = _publish(
        api, f"{prefix}-gguf", {"README.md": _card(license="llama2", base_model=base), "model-Q4_K_M.gguf": b"GGUF"}
    )
    nc_root = _publish(api, f"{prefix}-nc-root", {"README.md": _card(license="cc-by-nc-4.0")})
    merge = _publish(api, f"{prefix}-merge", {"README.md": _card(license="llama2", base_model=[ft_llama, nc_root])})
    cycle_a, cycle_b = f"{prefix}-cycle-a", f"{prefix}-cycle-b"
    _publish(api, cycle_a, {"README.md": _card(license="mit", base_model=cycle_b)})
    _publish(api, cycle_b, {"README.md": _card(license="mit", base_model=cycle_a)})
    on_missing = _publish(api, f"{prefix}-on-missing", {"README.md": _card(license="mit", base_model=MISSING_BASE)})

    secret_base = _publish(
        bob_api, f"{bob.name}/secret-{uuid.uuid4().hex[:6]}", {"README.md": _card(license="llama2")}, private=True
    )
    on_secret = _publish(api, f"{prefix}-on-secret", {"README.md": _card(license="apache-2.0", base_model=secret_base)})
    bob_private_ft = _publish(
        bob_api,
        f"{bob.name}/private-ft-{uuid.uuid4().hex[:6]}",
        {"README.md": _card(license="llama2", base_model=base)},
        private=True,
    )
    return Family(
        base, ft_apache, ft_llama, adapter, gguf, nc_root, merge, cycle_a, cycle_b, on_missing, secret_base,
        on_secret, bob_private_ft,
    )  # fmt: skip


def _tree(server, repo_id: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{server.url}/api/models/{repo_id}/model-tree", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _flags(tree: dict[str, Any]) -> dict[str, list[list[str]]]:
    return {flag["rule"]: flag["paths"] for flag in tree["licenseLineage"]}


def test_children_by_relation_count_what_the_caller_sees(server, family: Family, alice, bob):
    expected = {"adapter": 1, "merge": 0, "quantized": 1, "finetune": 2}
    for token in (None, alice.token):
        tree = _tree(server, family.base, token)
        assert tree["children"] == expected
        assert tree["childrenModelCount"] == 4
    # Bob also sees his private fine-tune of the base.
    assert _tree(server, family.base, bob.token)["children"] == {**expected, "finetune": 3}
    assert _tree(server, family.ft_llama)["children"] == {"adapter": 0, "merge": 1, "quantized": 0, "finetune": 0}


def test_the_base_is_a_gated_root_without_flags(server, family: Family):
    tree = _tree(server, family.base)
    assert (tree["id"], tree["license"], tree["gated"], tree["bases"]) == (family.base, "llama2", True, [])
    assert tree["ancestors"] == [] and tree["paths"] == [[family.base]] and tree["licenseLineage"] == []


def test_an_apache_fine_tune_of_llama2_is_flagged(server, family: Family):
    tree = _tree(server, family.ft_apache)
    assert tree["bases"] == [{"id": family.base, "relation": "finetune"}]
    flag = next(flag for flag in tree["licenseLineage"] if flag["rule"] == LLAMA2_KEEP)
    assert flag["paths"] == [[family.base, family.ft_apache]]
    assert flag["source"].startswith("https://ai.meta.com/llama/license/")
    assert "apache-2.0" in flag["message"] and "llama2" in flag["message"]
    assert list(_flags(tree)) == [LLAMA2_KEEP]


def test_a_llama2_fine_tune_is_clean(server, family: Family):
    assert _tree(server, family.ft_llama)["licenseLineage"] == []


def test_relations_inferred_from_files(server, family: Family):
    adapter = _tree(server, family.adapter)
    assert adapter["bases"] == [{"id": family.base, "relation": "adapter"}]
    assert adapter["license"] is None
    # No license on a derivative of a gated Llama 2 model: both rules say so.
    assert _flags(adapter) == {
        LLAMA2_KEEP: [[family.base, family.adapter]],
        GATED_NEEDS_LICENSE: [[family.base, family.adapter]],
    }
    gguf = _tree(server, family.gguf)
    assert gguf["bases"] == [{"id": family.base, "relation": "quantized"}] and gguf["licenseLineage"] == []


def test_a_merge_of_clashing_parents_is_flagged_with_both_paths(server, family: Family):
    tree = _tree(server, family.merge)
    assert sorted(tree["bases"], key=lambda edge: edge["id"]) == sorted(
        [{"id": family.ft_llama, "relation": "merge"}, {"id": family.nc_root, "relation": "merge"}],
        key=lambda edge: edge["id"],
    )
    assert sorted(tree["paths"]) == sorted(
        [[family.merge, family.ft_llama, family.base], [family.merge, family.nc_root]]
    )
    depth = {node["id"]: node["depth"] for node in tree["ancestors"]}
    assert depth == {family.ft_llama: 1, family.nc_root: 1, family.base: 2}
    flags = _flags(tree)
    assert sorted(flags[MERGE_CLASH]) == sorted([[family.ft_llama, family.merge], [family.nc_root, family.merge]])
    assert flags[NON_COMMERCIAL] == [[family.nc_root, family.merge]]  # a llama2 license allows commercial use
    assert set(flags) == {MERGE_CLASH, NON_COMMERCIAL}


@pytest.mark.parametrize("which", ["cycle_a", "cycle_b"])
def test_a_cycle_ends_and_is_reported(server, family: Family, which: str):
    model = getattr(family, which)
    other = family.cycle_b if model == family.cycle_a else family.cycle_a
    tree = _tree(server, model)
    assert [node["id"] for node in tree["ancestors"]] == [other]
    assert tree["cycles"] == [[model, other, model]]
    assert tree["paths"] == [[model, other]] and not tree["truncated"]
    assert tree["children"]["finetune"] == 1


def test_a_missing_base_appears_as_missing(server, family: Family):
    tree = _tree(server, family.on_missing)
    assert tree["ancestors"] == [{"id": MISSING_BASE, "missing": True, "depth": 1, "child": family.on_missing}]
    assert tree["paths"] == [[family.on_missing, MISSING_BASE]] and tree["licenseLineage"] == []


def test_a_private_base_answers_exactly_like_a_missing_one(server, family: Family, alice, bob):
    for token in (None, alice.token):
        hidden = _tree(server, family.on_secret, token)
        missing = _tree(server, family.on_missing, token)
        assert [{**node, "id": "?", "child": "?"} for node in hidden["ancestors"]] == [
            {**node, "id": "?", "child": "?"} for node in missing["ancestors"]
        ]
        assert hidden["licenseLineage"] == []  # nothing of the private base's license leaks through a flag
    # Its owner sees it, its license and the break.
    seen = _tree(server, family.on_secret, bob.token)
    assert seen["ancestors"][0]["license"] == "llama2"
    assert _flags(seen) == {LLAMA2_KEEP: [[family.secret_base, family.on_secret]]}


def test_a_private_model_has_no_tree_for_others(server, family: Family, bob):
    response = httpx.get(f"{server.url}/api/models/{family.bob_private_ft}/model-tree", timeout=60)
    missing = httpx.get(f"{server.url}/api/models/{bob.name}/no-such-model/model-tree", timeout=60)
    assert (response.status_code, response.headers.get("x-error-code")) == (401, "RepoNotFound")
    assert (response.status_code, response.content) == (missing.status_code, missing.content)
    assert _tree(server, family.bob_private_ft, bob.token)["bases"] == [{"id": family.base, "relation": "finetune"}]


def test_list_models_by_base_model_and_relation(api: HfApi, family: Family, bob):
    adapters = [model.id for model in api.list_models(filter=f"base_model:adapter:{family.base}")]
    assert adapters == [family.adapter]
    quantized = [model.id for model in api.list_models(filter=f"base_model:quantized:{family.base}")]
    assert quantized == [family.gguf]
    children = {model.id for model in api.list_models(filter=f"base_model:{family.base}")}
    assert children == {family.ft_apache, family.ft_llama, family.adapter, family.gguf}
    assert family.bob_private_ft not in children  # alice may not see bob's private fine-tune


def test_model_info_agrees_with_the_tree(anon_api: HfApi, server, family: Family):
    for model in (family.base, family.ft_llama, family.merge, family.on_missing):
        info = anon_api.model_info(model, expand=["baseModels", "childrenModelCount"])
        tree = _tree(server, model)
        assert info.children_model_count == tree["childrenModelCount"], model
        listed = {base["id"] for base in (info.base_models or {}).get("models", [])}
        assert listed == {base["id"] for base in tree["bases"]}, model
