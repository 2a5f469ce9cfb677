"""License lineage: the rules of domain/license_rules.py applied to a model's ancestry.

Every ancestor the caller can see is checked against the model (not only its direct bases: an apache-2.0
fine-tune of an apache-2.0 fine-tune of a Llama 2 model still breaks the Llama 2 license), nearest first, and
each rule is reported once, with the shortest path of model ids from the ancestor that triggered it down to the
model. A merge is also checked as a whole: its parents must allow one common license. Missing ancestors (not on
this hub, or not visible) have no known license and trigger nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from modelyard.domain.license_rules import (
    KNOWN_LICENSES,
    LICENSE_CHOICE,
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
from modelyard.domain.model_ancestry import Ancestry, TreeNode

OTHER = "other"  # the Hub's license id for a license named by `license_name`


@dataclass(frozen=True)
class LicenseFlag:
    rule: str
    message: str
    source: str
    paths: tuple[tuple[str, ...], ...]  # each from an ancestor down to the flagged model


def effective_license(license_id: object, license_name: object = None) -> str:
    """The license id a card means: `license`, or its `license_name` when it says `other`; "" when none."""
    value = license_id[0] if isinstance(license_id, list) and license_id else license_id
    if not isinstance(value, str):
        return ""
    value = value.strip().lower()
    if value == OTHER and isinstance(license_name, str) and license_name.strip():
        return license_name.strip().lower()
    return value


def license_flags(ancestry: Ancestry, rules: Iterable[LicenseRule] = RULES) -> list[LicenseFlag]:
    rules = tuple(rules)
    model = ancestry.model
    flags: dict[str, LicenseFlag] = {}
    for ancestor in ancestry.ancestors:
        if ancestor.missing:
            continue
        for rule in rules:
            if rule.id not in flags and violates(rule, ancestor, model):
                message = f"{rule.description}: {_described(ancestor)} → {_described(model)}"
                flags[rule.id] = LicenseFlag(rule.id, message, rule.source, (ancestry.path_from(ancestor.key),))
    for rule in rules:
        if isinstance(rule.predicate, MergeParentsShareALicense):
            clash = incompatible_parents([node for node in ancestry.parents() if not node.missing], rules)
            if clash:
                named = " and ".join(_described(node) for node in clash)
                paths = tuple(ancestry.path_from(node.key) for node in clash)
                flags[rule.id] = LicenseFlag(rule.id, f"{rule.description}: {named}", rule.source, paths)
    return list(flags.values())


def violates(rule: LicenseRule, base: TreeNode, derivative: TreeNode) -> bool:
    """Whether `derivative`, made from `base`, breaks `rule` (merges are judged by `incompatible_parents`)."""
    predicate = rule.predicate
    match predicate:
        case DerivativeLicenseIn() | DerivativeKeepsProperty():
            return not admits(predicate, base.license, derivative.license)
        case DerivativesForbidden(property=forbidden):
            return forbidden in LICENSE_PROPERTIES.get(base.license, ())
        case DerivativeNamePrefix(base_licenses=licenses, prefix=prefix):
            return base.license in licenses and not _letters_and_digits(derivative.name).startswith(prefix)
        case GatedBaseNeedsLicense():
            return base.gated and not derivative.license
        case MergeParentsShareALicense():
            return False
    raise AssertionError(f"unknown predicate {predicate!r}")


def admits(predicate: DerivativeLicenseIn | DerivativeKeepsProperty, base: str, derivative: str) -> bool:
    """Whether a license-choice predicate lets a derivative of a `base`-licensed model take `derivative`."""
    if isinstance(predicate, DerivativeLicenseIn):
        return base not in predicate.base_licenses or derivative in predicate.allowed
    if predicate.property not in LICENSE_PROPERTIES.get(base, ()):
        return True
    known = LICENSE_PROPERTIES.get(derivative)
    return known is None or predicate.property in known  # a license nothing is known about is not judged


def incompatible_parents(parents: list[TreeNode], rules: Iterable[LicenseRule] = RULES) -> list[TreeNode]:
    """Two parents of a merge that no single license satisfies (all of them if only the whole set clashes);
    [] when some license satisfies every parent's license-choice rules."""
    choices = [rule.predicate for rule in rules if isinstance(rule.predicate, LICENSE_CHOICE)]

    def common_license(group: Iterable[TreeNode]) -> bool:
        licenses = {node.license for node in group}
        return any(
            all(admits(choice, base, candidate) for choice in choices for base in licenses)
            for candidate in KNOWN_LICENSES
        )

    if len(parents) < 2 or common_license(parents):
        return []
    for pair in combinations(parents, 2):
        if not common_license(pair):
            return list(pair)
    return parents


def _described(node: TreeNode) -> str:
    return f"{node.id} ({node.license or 'no license'}{', gated' if node.gated else ''})"


def _letters_and_digits(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
