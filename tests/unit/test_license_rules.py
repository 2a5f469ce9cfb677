"""Every rule of the license table, with cases made from the rule's own data: a derivative that breaks it is
flagged with the rule's id, source and path, and one that keeps it is not."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modelyard.domain.license_lineage import incompatible_parents, license_flags, violates
from modelyard.domain.license_rules import (
    KNOWN_LICENSES,
    LICENSE_PROPERTIES,
    RULES,
    DerivativeKeepsProperty,
    DerivativeLicenseIn,
    DerivativeNamePrefix,
    DerivativesForbidden,
    GatedBaseNeedsLicense,
    LicenseRule,
    MergeParentsShareALicense,
)
from modelyard.domain.model_ancestry import BaseEdge, TreeNode, walk_ancestors

PERMISSIVE = ("apache-2.0", "mit")


@dataclass(frozen=True)
class Case:
    """A model `derivative` made from `bases` (several: a merge); `broken` whether it breaks the rule."""

    bases: tuple[TreeNode, ...]
    derivative: TreeNode
    broken: bool

    def label(self) -> str:
        made_from = " + ".join(f"{b.license or '-'}{'/gated' if b.gated else ''}" for b in self.bases)
        return f"{made_from} -> {self.derivative.name}:{self.derivative.license or '-'}"


def _base(license_id: str, name: str = "base", gated: bool = False) -> TreeNode:
    return TreeNode(f"org/{name}", license_id, gated)


def _derivative(license_id: str, *bases: TreeNode, name: str = "derived") -> TreeNode:
    relation = "merge" if len(bases) > 1 else "finetune"
    return TreeNode(f"org/{name}", license_id, bases=tuple(BaseEdge(b.id, relation) for b in bases))


def _single(base: TreeNode, license_id: str, broken: bool, name: str = "derived") -> Case:
    return Case((base,), _derivative(license_id, base, name=name), broken)


def _cases(rule: LicenseRule) -> list[Case]:
    """Cases from the predicate's data: every base license it names, with derivatives on both sides of it."""
    predicate = rule.predicate
    cases: list[Case] = []
    match predicate:
        case DerivativeLicenseIn(base_licenses=bases, allowed=allowed):
            for license_id in sorted(bases):
                base = _base(license_id)
                cases += [_single(base, kept, False) for kept in sorted(allowed)]
                cases += [_single(base, other, True) for other in (*PERMISSIVE, "") if other not in allowed]
            cases.append(_single(_base("apache-2.0"), "mit", False))  # a base the rule is not about
        case DerivativeKeepsProperty(property=kept):
            for license_id in sorted(k for k, props in LICENSE_PROPERTIES.items() if kept in props):
                base = _base(license_id)
                cases += [_single(base, license_id, False), _single(base, "apache-2.0", True)]
                cases.append(_single(base, "some-custom-license", False))  # a license nothing is known about
        case DerivativesForbidden(property=forbidden):
            for license_id in sorted(k for k, props in LICENSE_PROPERTIES.items() if forbidden in props):
                cases.append(_single(_base(license_id), license_id, True))
            cases.append(_single(_base("cc-by-4.0"), "cc-by-4.0", False))
        case DerivativeNamePrefix(base_licenses=bases, prefix=prefix):
            for license_id in sorted(bases):
                base = _base(license_id)
                cases.append(_single(base, license_id, False, name=f"{prefix.title()}-tuned"))
                cases.append(_single(base, license_id, True, name=f"tuned-{prefix}"))
        case GatedBaseNeedsLicense():
            gated = _base("apache-2.0", gated=True)
            cases += [_single(gated, "", True), _single(gated, "apache-2.0", False), _single(_base(""), "", False)]
        case MergeParentsShareALicense():
            keeps = [r.predicate for r in RULES if isinstance(r.predicate, DerivativeLicenseIn)]
            for first, second in ((a, b) for a in keeps for b in keeps if a is not b):
                if not first.allowed & second.allowed and not first.base_licenses & second.base_licenses:
                    left, right = min(first.base_licenses), min(second.base_licenses)
                    parents = (_base(left, "left"), _base(right, "right"))
                    cases.append(Case(parents, _derivative(left, *parents), True))
            for left in ("llama2", "cc-by-nc-4.0"):
                parents = (_base(left, "left"), _base("apache-2.0", "right"))
                cases.append(Case(parents, _derivative(left, *parents), False))
            parents = (_base("cc-by-nc-4.0", "left"), _base("cc-by-sa-4.0", "right"))
            cases.append(Case(parents, _derivative("cc-by-nc-sa-4.0", *parents), True))
    return cases


CASES = [(rule, case) for rule in RULES for case in _cases(rule)]


def test_rules_are_unique_and_sourced():
    assert len({rule.id for rule in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.description and rule.source.startswith("https://"), rule.id


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rule_has_a_breaking_and_a_keeping_case(rule: LicenseRule):
    outcomes = {case.broken for case in _cases(rule)}
    assert outcomes == {True, False}


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{rule.id}: {case.label()}" for rule, case in CASES])
def test_rule(rule: LicenseRule, case: Case):
    nodes = {base.key: base for base in case.bases}
    ancestry = walk_ancestors(case.derivative, lambda keys: {k: nodes[k] for k in keys if k in nodes})
    flags = {flag.rule: flag for flag in license_flags(ancestry)}
    assert (rule.id in flags) == case.broken
    if case.broken:
        flag = flags[rule.id]
        assert flag.source == rule.source and rule.description in flag.message
        if isinstance(rule.predicate, MergeParentsShareALicense):
            assert sorted(flag.paths) == sorted((base.id, case.derivative.id) for base in case.bases)
        else:
            assert flag.paths == ((case.bases[0].id, case.derivative.id),)
            assert violates(rule, case.bases[0], case.derivative)


def test_known_licenses_cover_every_allowed_license():
    for rule in RULES:
        if isinstance(rule.predicate, DerivativeLicenseIn):
            assert rule.predicate.allowed <= KNOWN_LICENSES, rule.id
            assert rule.predicate.allowed <= set(LICENSE_PROPERTIES), rule.id


def test_a_merge_names_the_two_parents_that_clash():
    parents = [_base("llama2", "a"), _base("apache-2.0", "b"), _base("gemma", "c")]
    assert [node.id for node in incompatible_parents(parents)] == ["org/a", "org/c"]
    assert incompatible_parents(parents[:2]) == []
