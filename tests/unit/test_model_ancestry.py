"""The model tree walk (bounded, cycle-safe, missing bases) and how license lineage reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError

import pytest

from modelyard.domain.license_lineage import LicenseFlag, effective_license, license_flags
from modelyard.domain.model_ancestry import (
    MAX_ANCESTORS,
    MAX_DEPTH,
    MAX_PATHS,
    Ancestry,
    BaseEdge,
    TreeNode,
    walk_ancestors,
)


class Family:
    """Models by id; a loader that counts its calls and never returns what it was not asked for."""

    def __init__(self, *nodes: TreeNode) -> None:
        self.nodes = {node.key: node for node in nodes}
        self.loads: list[set[str]] = []

    def load(self, keys: set[str]) -> Mapping[str, TreeNode]:
        assert keys, "the walk asks for something or stops"
        self.loads.append(keys)
        return {key: self.nodes[key] for key in keys if key in self.nodes}

    def walk(self, model_id: str) -> Ancestry:
        return walk_ancestors(self.nodes[model_id.lower()], self.load)


def node(model_id: str, license_id: str = "", *bases: str, relation: str = "finetune", gated: bool = False) -> TreeNode:
    return TreeNode(model_id, license_id, gated, bases=tuple(BaseEdge(base, relation) for base in bases))


def test_ancestry_nearest_first_with_paths_to_roots():
    family = Family(
        node("o/quant", "llama2", "o/ft", relation="quantized"),
        node("o/ft", "llama2", "O/Base"),
        node("o/base", "llama2", gated=True),
    )
    ancestry = family.walk("o/quant")
    assert [n.id for n in ancestry.ancestors] == ["o/ft", "o/base"]
    assert ancestry.depth == {"o/quant": 0, "o/ft": 1, "o/base": 2}
    assert ancestry.path_from("o/base") == ("o/base", "o/ft", "o/quant")
    assert ancestry.paths_to_roots() == [("o/quant", "o/ft", "o/base")]
    assert ancestry.cycles() == [] and not ancestry.truncated
    assert len(family.loads) == 2  # one lookup per generation


def test_a_missing_base_ends_its_branch_and_keeps_its_spelling():
    family = Family(node("o/m", "mit", "Gone/Model", "o/base", relation="merge"), node("o/base", "mit"))
    ancestry = family.walk("o/m")
    missing = ancestry.nodes["gone/model"]
    assert missing == TreeNode("Gone/Model", missing=True)
    assert (missing.license, missing.gated, missing.bases) == ("", False, ())
    assert sorted(ancestry.paths_to_roots()) == [("o/m", "Gone/Model"), ("o/m", "o/base")]


@pytest.mark.parametrize("model", ["o/a", "o/b"])
def test_a_cycle_is_walked_once_and_reported(model: str):
    family = Family(node("o/a", "mit", "o/b"), node("o/b", "mit", "o/a"))
    ancestry = family.walk(model)
    other = "o/b" if model == "o/a" else "o/a"
    assert [n.id for n in ancestry.ancestors] == [other]
    assert ancestry.cycles() == [(model, other, model)]
    assert ancestry.paths_to_roots() == [(model, other)]
    assert not ancestry.truncated


def test_a_model_that_is_its_own_base():
    family = Family(node("o/self", "mit", "o/SELF"))
    ancestry = family.walk("o/self")
    assert ancestry.ancestors == () and ancestry.cycles() == [("o/self", "o/self")]


def test_a_cycle_reached_through_two_bases():
    family = Family(node("o/m", "mit", "o/x", "o/y", relation="merge"), node("o/x", "", "o/y"), node("o/y", "", "o/x"))
    ancestry = family.walk("o/m")
    assert {n.id for n in ancestry.ancestors} == {"o/x", "o/y"}
    assert len(ancestry.cycles()) == 1


def test_a_deep_chain_is_cut_at_max_depth():
    chain = [node(f"o/m{i}", "mit", f"o/m{i + 1}") for i in range(MAX_DEPTH + 5)]
    ancestry = Family(*chain).walk("o/m0")
    assert len(ancestry.ancestors) == MAX_DEPTH and ancestry.truncated


def test_a_chain_exactly_max_depth_long_is_whole():
    chain = [node(f"o/m{i}", "mit", f"o/m{i + 1}") for i in range(MAX_DEPTH)] + [node(f"o/m{MAX_DEPTH}", "mit")]
    ancestry = Family(*chain).walk("o/m0")
    assert len(ancestry.ancestors) == MAX_DEPTH and not ancestry.truncated


def test_a_wide_family_is_cut_at_max_ancestors():
    parents = [f"o/p{i}" for i in range(MAX_ANCESTORS + 10)]
    family = Family(node("o/m", "mit", *parents, relation="merge"), *(node(p, "mit") for p in parents))
    ancestry = family.walk("o/m")
    assert len(ancestry.ancestors) == MAX_ANCESTORS and ancestry.truncated


@pytest.mark.parametrize(("count", "truncated"), [(MAX_ANCESTORS, False), (MAX_ANCESTORS + 1, True)])
def test_the_ancestor_bound_is_exact(count: int, truncated: bool):
    parents = [f"o/p{i}" for i in range(count)]
    family = Family(node("o/m", "mit", *parents, relation="merge"), *(node(p, "mit") for p in parents))
    ancestry = family.walk("o/m")
    assert len(ancestry.ancestors) == min(count, MAX_ANCESTORS) and ancestry.truncated is truncated


def test_a_family_wide_further_up_is_cut_at_max_ancestors_and_walked_no_further():
    grandparents = [f"o/g{i}" for i in range(MAX_ANCESTORS + 10)]
    family = Family(
        node("o/m", "mit", "o/p"),
        node("o/p", "mit", *grandparents, relation="merge"),
        *(node(g, "mit", "o/root") for g in grandparents),
    )
    ancestry = family.walk("o/m")
    assert len(ancestry.ancestors) == MAX_ANCESTORS and ancestry.truncated
    assert len(family.loads) == 2


def test_paths_to_roots_are_bounded():
    parents = [f"o/p{i}" for i in range(MAX_PATHS + 5)]
    family = Family(node("o/m", "mit", *parents, relation="merge"), *(node(p, "mit") for p in parents))
    assert len(family.walk("o/m").paths_to_roots()) == MAX_PATHS


def test_a_diamond_is_no_cycle_and_is_walked_once():
    family = Family(
        node("o/m", "mit", "o/l", "o/r", relation="merge"), node("o/l", "mit", "o/root"), node("o/r", "mit", "o/root")
    )
    ancestry = family.walk("o/m")
    assert [n.id for n in ancestry.ancestors] == ["o/l", "o/r", "o/root"]
    assert ancestry.cycles() == []
    assert sorted(ancestry.paths_to_roots()) == [("o/m", "o/l", "o/root"), ("o/m", "o/r", "o/root")]


def test_the_bounds_are_the_documented_ones():
    assert (MAX_DEPTH, MAX_ANCESTORS, MAX_PATHS) == (16, 256, 64)  # docs/license-lineage.md


def test_tree_values_are_frozen():
    ancestry = Family(node("o/m", "mit", "o/b"), node("o/b", "mit")).walk("o/m")
    flag = LicenseFlag("rule", "message", "https://source", (("o/b", "o/m"),))
    assert len({ancestry.model, ancestry.model.bases[0], flag}) == 3  # hashable values
    with pytest.raises(FrozenInstanceError):
        ancestry.truncated = True  # type: ignore[misc]


# ---- license lineage over the tree -----------------------------------------------------------------------------
def test_a_break_further_up_is_flagged_with_the_whole_path_once():
    family = Family(
        node("o/ft2", "apache-2.0", "o/ft1"), node("o/ft1", "llama2", "o/base"), node("o/base", "llama2", gated=True)
    )
    flags = license_flags(family.walk("o/ft2"))
    assert [(f.rule, f.paths) for f in flags] == [("llama2-keep-license", (("o/ft1", "o/ft2"),))]


def test_a_relicensed_middle_does_not_launder_the_base():
    family = Family(node("o/ft2", "mit", "o/ft1"), node("o/ft1", "mit", "o/base"), node("o/base", "cc-by-nc-4.0"))
    flags = license_flags(family.walk("o/ft2"))
    assert [(f.rule, f.paths) for f in flags] == [
        ("non-commercial-stays-non-commercial", (("o/base", "o/ft1", "o/ft2"),))
    ]


def test_a_missing_base_does_not_hide_the_next_one():
    family = Family(node("o/m", "apache-2.0", "gone/x", "o/base", relation="merge"), node("o/base", "llama2"))
    assert [f.rule for f in license_flags(family.walk("o/m"))] == ["llama2-keep-license"]


def test_missing_bases_and_cycles_trigger_nothing_unknown():
    family = Family(node("o/a", "apache-2.0", "o/b", "gone/x", relation="merge"), node("o/b", "apache-2.0", "o/a"))
    assert license_flags(family.walk("o/a")) == []


def test_flags_name_the_models_and_licenses():
    family = Family(node("o/ad", "", "o/base", relation="adapter"), node("o/base", "llama2", gated=True))
    flags = {flag.rule: flag for flag in license_flags(family.walk("o/ad"))}
    assert set(flags) == {"llama2-keep-license", "gated-base-needs-license"}
    assert "o/base (llama2, gated) → o/ad (no license)" in flags["gated-base-needs-license"].message


@pytest.mark.parametrize(
    ("license_id", "license_name", "expected"),
    [
        ("Apache-2.0", None, "apache-2.0"),
        ("other", "Llama2", "llama2"),
        ("other", "", "other"),
        (["mit", "apache-2.0"], None, "mit"),
        (None, "llama2", ""),
        (7, None, ""),
        ([], None, ""),
    ],
)
def test_effective_license(license_id: object, license_name: object, expected: str):
    assert effective_license(license_id, license_name) == expected
