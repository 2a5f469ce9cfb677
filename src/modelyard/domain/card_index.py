"""What the hub index records about a repository's card: its metadata made storable, the tags the Hub derives
from it, its title, its bounded text, the model tree edges, and the warnings the Hub would show.

A card is user input: everything here is bounded (tags, their length, the text, the stored metadata) and any
YAML type is accepted, so that indexing never fails on a card that a commit was allowed to write.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from modelyard.domain.card_metadata import MAX_LISTED_ERRORS, validate_card
from modelyard.domain.cards import card_body, lenient_front_matter
from modelyard.domain.errors import BadRequest
from modelyard.domain.model_tree import RELATIONS, BaseModel, RepoFiles, base_models, valid_model_id
from modelyard.domain.repo_ids import RepoType

MAX_TAGS = 200
MAX_TAG_LENGTH = 300  # the repo_tags column
MAX_CARD_TEXT = 64 * 1024  # characters of the Markdown body kept for full-text search
MAX_TITLE = 300
MAX_FIELD = 100  # license, pipeline_tag and library_name columns
MAX_CARD_JSON = 512 * 1024  # stored metadata, serialized: YAML aliases can make a small card expand a lot
MAX_CONFIG_JSON = 64 * 1024  # the quantization_config kept from config.json
MAX_ARXIV_TAGS = 20
# Fields the Hub turns into `<field>:<value>` tags on datasets (the dataset card's YAML keys).
DATASET_TAG_FIELDS = (
    "task_categories", "task_ids", "language", "size_categories", "multilinguality", "language_creators",
    "annotations_creators", "source_datasets",
)  # fmt: skip
# Known fields and their expected types: a value of another type is ignored (and warned about).
TEXT_FIELDS = (
    "pipeline_tag", "library_name", "license_name", "license_link", "thumbnail", "new_version",
    "base_model_relation", "pretty_name", "sdk",
)  # fmt: skip
LIST_FIELDS = ("license", "tags", "language", "datasets", "base_model", "metrics", *DATASET_TAG_FIELDS)
_HEADING = re.compile(r"^# +(.+?)\s*#*\s*$", re.MULTILINE)
_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})", re.IGNORECASE)
_NOT_FOUND = "README.md not found: the repository has no card"


@dataclass(frozen=True)
class CardIndex:
    card: dict[str, Any]  # the metadata, JSON-safe (the API's cardData)
    card_text: str
    title: str
    license: str
    pipeline_tag: str
    library_name: str
    warnings: list[str]
    tags: list[str]
    bases: list[BaseModel] = field(default_factory=list)


def index_card(
    repo_type: RepoType, repo_id: str, readme: str | None, files: RepoFiles, unread_reason: str = ""
) -> CardIndex:
    """Index `readme` (None: no README.md, or one not read for `unread_reason`) of repository `repo_id`."""
    if readme is None:
        return CardIndex({}, "", "", "", "", "", [unread_reason or _NOT_FOUND], [], [])
    readme = readme.replace("\x00", "")  # PostgreSQL text holds no NUL
    card, warnings = _metadata(readme)
    body = card_body(readme)
    bases = base_models(card, repo_id, files) if repo_type is RepoType.MODEL else []
    warnings += _field_warnings(card, repo_type)
    return CardIndex(
        card=card,
        card_text=body[:MAX_CARD_TEXT],
        title=title_of(body),
        license=_bounded(_first(card.get("license"))),
        pipeline_tag=_bounded(_text(card.get("pipeline_tag"))),
        library_name=_bounded(_text(card.get("library_name"))),
        warnings=warnings[:MAX_LISTED_ERRORS],
        tags=derive_tags(repo_type, card, bases, body),
        bases=bases,
    )


def title_of(body: str) -> str:
    """The first level-1 heading (`# Title`) of the Markdown, or ""."""
    match = _HEADING.search(body)
    return match.group(1)[:MAX_TITLE] if match else ""


def derive_tags(repo_type: RepoType, card: dict[str, Any], bases: list[BaseModel], body: str = "") -> list[str]:
    """The repository's tags as the Hub derives them from its card, distinct, at most MAX_TAGS."""
    tags = _Tags()
    if repo_type is RepoType.MODEL:
        tags.add(_text(card.get("library_name")))
        tags.add(_text(card.get("pipeline_tag")))
    if repo_type is RepoType.SPACE:
        tags.add(_text(card.get("sdk")))
    tags.add(card.get("tags"))
    if repo_type is RepoType.MODEL:
        tags.add(card.get("language"))  # plain codes on models: `en`
        tags.add(card.get("datasets"), "dataset:")
        for base in bases:
            tags.add(base.base_id, "base_model:")
            tags.add(base.base_id, f"base_model:{base.relation}:")
    if repo_type is RepoType.DATASET:
        for name in DATASET_TAG_FIELDS:
            tags.add(card.get(name), f"{name}:")
    tags.add(_ARXIV.findall(body)[:MAX_ARXIV_TAGS], "arxiv:")
    tags.add(card.get("license"), "license:")
    return tags.values


class _Tags:
    def __init__(self) -> None:
        self.values: list[str] = []
        self._seen: set[str] = set()

    def add(self, value: object, prefix: str = "") -> None:
        for item in value if isinstance(value, list) else [value]:
            text = _scalar_text(item)
            if not text:
                continue
            tag = prefix + text
            if len(tag) <= MAX_TAG_LENGTH and tag not in self._seen and len(self.values) < MAX_TAGS:
                self._seen.add(tag)
                self.values.append(tag)


def _scalar_text(value: object) -> str:
    """A tag value's text: strings and numbers (YAML reads `tags: [2024]` as a number), never booleans or
    containers; one line, no NUL."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = str(value).replace("\x00", "").strip()
    return "" if "\n" in text or "\r" in text else text


def config_subset(config: object) -> dict[str, Any] | None:
    """The Hub's `config` field from config.json: architectures, model_type and quantization_config."""
    if not isinstance(config, dict):
        return None
    subset: dict[str, Any] = {}
    architectures = config.get("architectures")
    if isinstance(architectures, list):
        subset["architectures"] = [name for name in architectures if isinstance(name, str)][:MAX_TAGS]
    if isinstance(config.get("model_type"), str):
        subset["model_type"] = config["model_type"][:MAX_FIELD]
    quantization = config.get("quantization_config")
    if isinstance(quantization, dict):
        safe = json_safe(quantization)
        if len(json.dumps(safe)) <= MAX_CONFIG_JSON:
            subset["quantization_config"] = safe
    return subset or None


def json_safe(value: Any) -> Any:
    """YAML's values as JSON can store them: dates as ISO text, non-finite floats as null, keys as text."""
    if isinstance(value, dict):
        return {str(key).replace("\x00", ""): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def _metadata(readme: str) -> tuple[dict[str, Any], list[str]]:
    """The card's JSON-safe metadata and the Hub's warnings; a card the Hub would refuse reads as empty."""
    try:
        warnings = validate_card(readme)
    except BadRequest as error:
        messages = [problem["message"] for problem in error.details.get("errors", [])] or [error.message]
        return {}, messages
    card = json_safe(lenient_front_matter(readme))
    if len(json.dumps(card)) > MAX_CARD_JSON:
        return {}, [f"The README.md metadata is larger than {MAX_CARD_JSON} bytes as JSON: it is not indexed"]
    return card, warnings


def _field_warnings(card: dict[str, Any], repo_type: RepoType) -> list[str]:
    warnings = []
    for name in TEXT_FIELDS:
        if name in card and not isinstance(card[name], str):
            warnings.append(f'"{name}" must be a string')
    for name in LIST_FIELDS:
        value = card.get(name)
        if value is not None and not all(_scalar_text(item) for item in _as_list(value)):
            warnings.append(f'"{name}" must be a string or a list of strings')
    relation = card.get("base_model_relation")
    if isinstance(relation, str) and relation.strip().lower() not in RELATIONS:
        warnings.append(f'"base_model_relation" must be one of {", ".join(RELATIONS)}')
    if repo_type is RepoType.MODEL and "base_model" in card:
        for item in _as_list(card["base_model"]):
            if isinstance(item, str) and valid_model_id(item) is None:
                warnings.append(f'"base_model" {item!r} is not a model id (namespace/name)')
    for name in ("license", "pipeline_tag", "library_name"):
        if len(_first(card.get(name))) > MAX_FIELD:
            warnings.append(f'"{name}" is longer than {MAX_FIELD} characters')
    return warnings


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _first(value: object) -> str:
    """A field that may be a list (license): its first value."""
    return _scalar_text(value[0] if isinstance(value, list) and value else value)


def _text(value: object) -> str:
    return value.strip().replace("\x00", "") if isinstance(value, str) else ""


def _bounded(value: str) -> str:
    return value if len(value) <= MAX_FIELD else ""
