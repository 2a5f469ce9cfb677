"""Model and dataset cards: the YAML front matter at the top of README.md."""

from __future__ import annotations

import re
from typing import Any

import yaml

from modelyard.domain.errors import BadRequest

_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", re.DOTALL)


def front_matter(text: str) -> dict[str, Any]:
    """The card's metadata; raises BadRequest when the YAML block is not a valid mapping."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise BadRequest(f"Invalid YAML in the README.md metadata block: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("The README.md metadata block must be a YAML mapping (key: value pairs)")
    return data


def lenient_front_matter(text: str) -> dict[str, Any]:
    """Like front_matter, but a broken card reads as empty metadata (for listings and info)."""
    try:
        return front_matter(text)
    except BadRequest:
        return {}


def tags_from_card(card: dict[str, Any]) -> list[str]:
    tags: list[str] = []

    def add(value: object, prefix: str = "") -> None:
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str | int | float) and str(item):
                tag = f"{prefix}{item}"
                if tag not in tags:
                    tags.append(tag)

    add(card.get("tags", []))
    add(card.get("library_name", ""))
    add(card.get("pipeline_tag", ""))
    add(card.get("language", []), "")
    add(card.get("license", ""), "license:")
    add(card.get("datasets", []), "dataset:")
    add(card.get("base_model", []), "base_model:")
    return tags
