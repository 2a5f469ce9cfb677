"""Which properties a repository's info or listing item shows: the Hub's `expand` vocabulary, its defaults, and the
listing switches (`full`, `cardData`, `config`).

docs/repo-fields.md says where each property comes from and what it is when Modelyard has nothing to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelyard.domain.errors import BadRequest
from modelyard.domain.repo_ids import RepoType

# Every `expand` value huggingface_hub 2.4 knows (ExpandModelProperty_T, ExpandDatasetProperty_T,
# ExpandSpaceProperty_T); tests/integration/test_repo_fields.py fails when the client learns a new one.
_MODEL_EXPAND = (
    "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled", "downloads",
    "downloadsAllTime", "evalResults", "gated", "gguf", "inference", "inferenceProviderMapping", "lastModified",
    "library_name", "likes", "mask_token", "model-index", "pipeline_tag", "private", "resourceGroup", "safetensors",
    "sha", "siblings", "spaces", "tags", "transformersInfo", "trendingScore", "usedStorage", "widgetData",
)  # fmt: skip
_DATASET_EXPAND = (
    "author", "cardData", "citation", "createdAt", "description", "disabled", "downloads", "downloadsAllTime",
    "gated", "lastModified", "likes", "mainSize", "paperswithcode_id", "private", "resourceGroup", "sha", "siblings",
    "tags", "trendingScore", "usedStorage",
)  # fmt: skip
_SPACE_EXPAND = (
    "author", "cardData", "createdAt", "datasets", "disabled", "lastModified", "likes", "models", "private",
    "region", "resourceGroup", "runtime", "sdk", "sha", "siblings", "subdomain", "tags", "trendingScore",
    "usedStorage",
)  # fmt: skip
EXPANDABLE: dict[RepoType, frozenset[str]] = {
    RepoType.MODEL: frozenset(_MODEL_EXPAND),
    RepoType.DATASET: frozenset(_DATASET_EXPAND),
    RepoType.SPACE: frozenset(_SPACE_EXPAND),
}

# Always there, whatever was asked: the client requires `id`.
IDENTITY = frozenset({"_id", "id"})

# `model_info()` without `expand`: what the Hub's info shows (`evalResults`, `inferenceProviderMapping` and
# `resourceGroup` only when asked, as there).
_INFO_EXTRAS = frozenset({"evalResults", "inferenceProviderMapping", "resourceGroup", "region", "runtime"})
INFO_DEFAULT: dict[RepoType, frozenset[str]] = {
    repo_type: (fields - _INFO_EXTRAS) | {"_id", "id"} for repo_type, fields in EXPANDABLE.items()
}

# A listing item by default (hub-api §5.2): enough to show a result line and sort it, nothing from git.
_LISTING_COMMON = frozenset(
    {"author", "private", "gated", "disabled", "downloads", "likes", "trendingScore", "tags", "createdAt"}
    | {"lastModified", "sha"}
)
LISTING_DEFAULT: dict[RepoType, frozenset[str]] = {
    RepoType.MODEL: _LISTING_COMMON | {"pipeline_tag", "library_name"},
    RepoType.DATASET: _LISTING_COMMON | {"description", "paperswithcode_id"},
    RepoType.SPACE: _LISTING_COMMON | {"sdk"},
}
# `full=true`: the files too, and for datasets and Spaces the card (models need `cardData=true` for it).
LISTING_FULL: dict[RepoType, frozenset[str]] = {
    RepoType.MODEL: LISTING_DEFAULT[RepoType.MODEL] | {"siblings", "mask_token", "widgetData"},
    RepoType.DATASET: LISTING_DEFAULT[RepoType.DATASET] | {"siblings", "cardData", "citation"},
    RepoType.SPACE: LISTING_DEFAULT[RepoType.SPACE] | {"siblings", "cardData", "models", "datasets"},
}


@dataclass(frozen=True)
class FieldRequest:
    """The properties one answer shows, `id` and `_id` always among them."""

    repo_type: RepoType
    fields: frozenset[str]

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def wants(self, *names: str) -> bool:
        return any(name in self.fields for name in names)


def info_fields(repo_type: RepoType, expand: Sequence[str]) -> FieldRequest:
    """`model_info`/`dataset_info`/`space_info`: the `expand` properties, or the Hub's full info."""
    if not expand:
        return FieldRequest(repo_type, INFO_DEFAULT[repo_type])
    return FieldRequest(repo_type, _expanded(repo_type, expand))


def listing_fields(
    repo_type: RepoType, expand: Sequence[str], full: bool, card_data: bool, config: bool
) -> FieldRequest:
    """A listing item: `expand` alone, or the default item widened by `full`, `cardData` and `config`."""
    if expand:
        if full or card_data or config:
            raise BadRequest("'expand' cannot be combined with 'full', 'cardData' or 'config'")
        return FieldRequest(repo_type, _expanded(repo_type, expand))
    fields = LISTING_FULL[repo_type] if full else LISTING_DEFAULT[repo_type]
    if card_data:
        fields |= {"cardData"}
    if config and repo_type is RepoType.MODEL:
        fields |= {"config"}
    return FieldRequest(repo_type, fields | IDENTITY)


def _expanded(repo_type: RepoType, expand: Sequence[str]) -> frozenset[str]:
    known = EXPANDABLE[repo_type]
    unknown = sorted({name for name in expand if name not in known})
    if unknown:
        raise BadRequest(
            f'"expand" must be one of [{", ".join(sorted(known))}] for {repo_type.plural}, not {unknown[0]!r}'
        )
    return frozenset(expand) | IDENTITY
