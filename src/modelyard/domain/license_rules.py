"""License lineage rules, as data: what a model's license must be, given the licenses of the models it derives from.

Each rule has an id, a description, a predicate written as data (one of the few predicate shapes below, filled
in with license ids and properties) and the clause of the license text it comes from. The evaluator
(domain/license_lineage.py) only interprets the predicate shapes; adding a rule is adding a row to RULES.

This is a warning aid, not legal advice: licenses are judged by their Hub ids (the card's `license`, or its
`license_name` when `license: other`), never by their text. See docs/license-lineage.md.
"""

from __future__ import annotations

from dataclasses import dataclass

# Properties of a license that rules talk about.
NON_COMMERCIAL = "non-commercial"  # no commercial use
SHARE_ALIKE = "share-alike"  # adaptations are shared under the same (or a compatible) license
NO_DERIVATIVES = "no-derivatives"  # adaptations may not be shared at all

_CC_NC = ("cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0")
_CC_NC_ND = ("cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0")
_CC_NC_SA = ("cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0")
_CC_SA = ("cc-by-sa-3.0", "cc-by-sa-4.0")
_RESEARCH_ONLY = ("fair-noncommercial-research-license", "h-research", "intel-research", "apple-amlr")
# Licenses that allow commercial use and adaptations under a license of one's choice (some with use restrictions
# that do not bear on the derivative's license id), or that are copyleft for software but say nothing here.
_NO_PROPERTIES = (
    "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cdla-permissive-1.0",
    "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "eupl-1.2",
    "agpl-3.0", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "lgpl-lr", "isc", "lppl-1.3c",
    "ms-pl", "mpl-2.0", "odc-by", "odbl", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl",
    "openrail", "openrail++", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "cdla-sharing-1.0", "openmdw-1.0", "llama2", "llama3", "llama3.1", "llama3.2",
    "llama3.3", "llama4", "gemma",
)  # fmt: skip

# The licenses rules can judge, with their properties. A license id not here (`other` with an unknown name,
# `unknown`, a typo) is not judged by property rules: nothing is known about it.
LICENSE_PROPERTIES: dict[str, frozenset[str]] = {
    **{license_id: frozenset() for license_id in _NO_PROPERTIES},
    **{license_id: frozenset({SHARE_ALIKE}) for license_id in _CC_SA},
    **{license_id: frozenset({NON_COMMERCIAL}) for license_id in (*_CC_NC, *_RESEARCH_ONLY, "deepfloyd-if-license")},
    **{license_id: frozenset({NON_COMMERCIAL, NO_DERIVATIVES}) for license_id in _CC_NC_ND},
    "cc-by-nd-4.0": frozenset({NO_DERIVATIVES}),
    **{license_id: frozenset({NON_COMMERCIAL, SHARE_ALIKE}) for license_id in _CC_NC_SA},
}


# ---- the predicate shapes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DerivativeLicenseIn:
    """A derivative of a model under one of `base_licenses` must be under one of `allowed` (stated, not empty)."""

    base_licenses: frozenset[str]
    allowed: frozenset[str]


@dataclass(frozen=True)
class DerivativeKeepsProperty:
    """A derivative of a model whose license has `property` must have a license with it too (when the
    derivative's license is one LICENSE_PROPERTIES knows)."""

    property: str


@dataclass(frozen=True)
class DerivativesForbidden:
    """A model whose license has `property` may not have shared derivatives at all."""

    property: str


@dataclass(frozen=True)
class DerivativeNamePrefix:
    """A derivative of a model under one of `base_licenses` must have a name beginning with `prefix` (compared
    lower-cased, letters and digits only: `Llama-3.1-8B-x` begins with `llama3`)."""

    base_licenses: frozenset[str]
    prefix: str


@dataclass(frozen=True)
class GatedBaseNeedsLicense:
    """A derivative of a gated model must state a license: the gate's terms do not travel with the weights."""


@dataclass(frozen=True)
class MergeParentsShareALicense:
    """A model with several bases (a merge) needs one license that every base's license rules allow."""


Predicate = (
    DerivativeLicenseIn
    | DerivativeKeepsProperty
    | DerivativesForbidden
    | DerivativeNamePrefix
    | GatedBaseNeedsLicense
    | MergeParentsShareALicense
)
# The predicates that restrict which license a derivative may take: merges are judged by these.
LICENSE_CHOICE = (DerivativeLicenseIn, DerivativeKeepsProperty)


@dataclass(frozen=True)
class LicenseRule:
    id: str
    description: str
    predicate: Predicate
    source: str  # the clause of the license text (or the documentation) the rule comes from


def _keep(license_id: str) -> DerivativeLicenseIn:
    return DerivativeLicenseIn(frozenset({license_id}), frozenset({license_id}))


RULES: tuple[LicenseRule, ...] = (
    LicenseRule(
        "llama2-keep-license",
        "A derivative of a Llama 2 model must be distributed with the Llama 2 Community License",
        _keep("llama2"),
        "https://ai.meta.com/llama/license/ (1.b.i: provide a copy of this Agreement with any derivative works)",
    ),
    LicenseRule(
        "llama3-keep-license",
        "A derivative of a Llama 3 model must be distributed with the Meta Llama 3 Community License",
        _keep("llama3"),
        "https://www.llama.com/llama3/license/ (1.b.i: provide a copy of this Agreement with any derivative works)",
    ),
    LicenseRule(
        "llama3.1-keep-license",
        "A derivative of a Llama 3.1 model must be distributed with the Llama 3.1 Community License",
        _keep("llama3.1"),
        "https://www.llama.com/llama3_1/license/ (1.b.i: provide a copy of this Agreement)",
    ),
    LicenseRule(
        "llama3.2-keep-license",
        "A derivative of a Llama 3.2 model must be distributed with the Llama 3.2 Community License",
        _keep("llama3.2"),
        "https://www.llama.com/llama3_2/license/ (1.b.i: provide a copy of this Agreement)",
    ),
    LicenseRule(
        "llama3.3-keep-license",
        "A derivative of a Llama 3.3 model must be distributed with the Llama 3.3 Community License",
        _keep("llama3.3"),
        "https://www.llama.com/llama3_3/license/ (1.b.i: provide a copy of this Agreement)",
    ),
    LicenseRule(
        "llama4-keep-license",
        "A derivative of a Llama 4 model must be distributed with the Llama 4 Community License",
        _keep("llama4"),
        "https://www.llama.com/llama4/license/ (1.b.i: provide a copy of this Agreement)",
    ),
    LicenseRule(
        "llama3-name-prefix",
        'A model made from a Llama 3 model must have a name beginning with "Llama 3"',
        DerivativeNamePrefix(frozenset({"llama3"}), "llama3"),
        'https://www.llama.com/llama3/license/ (1.b.i: include "Llama 3" at the beginning of any such AI model name)',
    ),
    LicenseRule(
        "llama3.1-plus-name-prefix",
        'A model made from a Llama 3.1 or later model must have a name beginning with "Llama"',
        DerivativeNamePrefix(frozenset({"llama3.1", "llama3.2", "llama3.3", "llama4"}), "llama"),
        'https://www.llama.com/llama3_1/license/ (1.b.i: include "Llama" at the beginning of any such AI model name)',
    ),
    LicenseRule(
        "gemma-keep-terms",
        "A derivative of a Gemma model must be distributed under the Gemma Terms of Use",
        _keep("gemma"),
        "https://ai.google.dev/gemma/terms (3.1: provide a copy of this Agreement and its use restrictions)",
    ),
    LicenseRule(
        "non-commercial-stays-non-commercial",
        "A derivative of a non-commercial model may not carry a license that allows commercial use",
        DerivativeKeepsProperty(NON_COMMERCIAL),
        "https://creativecommons.org/licenses/by-nc/4.0/legalcode.en (2.a.1: for NonCommercial purposes only)",
    ),
    LicenseRule(
        "cc-by-sa-3.0-share-alike",
        "An adaptation of a CC BY-SA 3.0 model must be under CC BY-SA 3.0 or a later version",
        DerivativeLicenseIn(frozenset({"cc-by-sa-3.0"}), frozenset({"cc-by-sa-3.0", "cc-by-sa-4.0"})),
        "https://creativecommons.org/licenses/by-sa/3.0/legalcode (4.b: this License, a later version, or a "
        "Creative Commons Compatible License)",
    ),
    LicenseRule(
        "cc-by-sa-4.0-share-alike",
        "An adaptation of a CC BY-SA 4.0 model must be under CC BY-SA 4.0 or a BY-SA compatible license (GPLv3)",
        DerivativeLicenseIn(frozenset({"cc-by-sa-4.0"}), frozenset({"cc-by-sa-4.0", "gpl-3.0"})),
        "https://creativecommons.org/licenses/by-sa/4.0/legalcode.en (3.b.1: the same License, a later version, "
        "or a BY-SA Compatible License); https://creativecommons.org/compatiblelicenses",
    ),
    *(
        LicenseRule(
            f"{version}-share-alike",
            f"An adaptation of a CC BY-NC-SA {version[-3:]} model must be under the same license or a later version",
            DerivativeLicenseIn(frozenset({version}), frozenset(_CC_NC_SA[index:])),
            f"https://creativecommons.org/licenses/by-nc-sa/{version[-3:]}/legalcode (ShareAlike: this License, "
            "a later version with the same License Elements, or a compatible license)",
        )
        for index, version in enumerate(_CC_NC_SA)
    ),
    LicenseRule(
        "no-derivatives",
        "A model under a NoDerivatives license may not have shared adaptations",
        DerivativesForbidden(NO_DERIVATIVES),
        "https://creativecommons.org/licenses/by-nd/4.0/legalcode.en (2.a.1.B: produce and reproduce, but not "
        "Share, Adapted Material)",
    ),
    LicenseRule(
        "gated-base-needs-license",
        "A derivative of a gated model must state a license",
        GatedBaseNeedsLicense(),
        "https://huggingface.co/docs/hub/models-gated (the gate's terms bind who downloads the base; a derivative "
        "without a license passes its weights on with no terms at all)",
    ),
    LicenseRule(
        "merge-parents-incompatible",
        "A merge's parents must allow one common license",
        MergeParentsShareALicense(),
        "https://creativecommons.org/faq/#can-i-combine-material-under-different-creative-commons-licenses-in-my"
        "-work (a combination must satisfy every part's license)",
    ),
)

# Every license id some rule or the property table names: the licenses a merge may choose from.
KNOWN_LICENSES: frozenset[str] = frozenset(LICENSE_PROPERTIES).union(
    *(rule.predicate.allowed for rule in RULES if isinstance(rule.predicate, DerivativeLicenseIn))
)
