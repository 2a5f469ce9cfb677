"""The model tree: which models a model derives from (its card's `base_model`), and how.

The relation is the card's `base_model_relation` when it names one of the Hub's four; otherwise it is inferred
from the repository's files as the Hub does: an adapter_config.json at the root makes an adapter, GGUF files or
a `quantization_config` in config.json a quantization, several bases a merge, anything else a fine-tune.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.domain.errors import InvalidName
from modelyard.domain.repo_ids import RepoRef, RepoType

RELATIONS = ("adapter", "merge", "quantized", "finetune")
# A merge names a handful of parents; a card is user input, and each base becomes rows and tags.
MAX_BASES = 20


@dataclass(frozen=True)
class RepoFiles:
    """What the relation is inferred from: facts about the files at the indexed commit."""

    has_adapter_config: bool = False  # adapter_config.json at the root
    has_gguf: bool = False  # any *.gguf file
    has_quantization_config: bool = False  # config.json holds quantization_config


@dataclass(frozen=True)
class BaseModel:
    base_id: str  # as the card spells it
    relation: str

    @property
    def key(self) -> str:
        """How the base is looked up: ids are case-insensitive."""
        return self.base_id.lower()


def base_models(card: dict[str, Any], own_id: str, files: RepoFiles) -> list[BaseModel]:
    """The valid, distinct bases the card names (at most MAX_BASES), each with its relation.

    Invalid ids are ignored, as is the model itself (a model is not its own base); case-insensitive duplicates
    are named once.
    """
    ids: list[str] = []
    seen = {own_id.lower()}
    for candidate in _listed(card.get("base_model")):
        base_id = valid_model_id(candidate)
        if base_id is not None and base_id.lower() not in seen:
            seen.add(base_id.lower())
            ids.append(base_id)
        if len(ids) == MAX_BASES:
            break
    relation = relation_of(card.get("base_model_relation"), len(ids), files)
    return [BaseModel(base_id, relation) for base_id in ids]


def relation_of(declared: object, base_count: int, files: RepoFiles) -> str:
    if isinstance(declared, str) and declared.strip().lower() in RELATIONS:
        return declared.strip().lower()
    if files.has_adapter_config:
        return "adapter"
    if files.has_gguf or files.has_quantization_config:
        return "quantized"
    if base_count > 1:
        return "merge"
    return "finetune"


def _listed(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def valid_model_id(value: object) -> str | None:
    """`value` as a model id (namespace/name, surrounding spaces removed), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return RepoRef.parse(RepoType.MODEL, value.strip()).id
    except InvalidName:
        return None
