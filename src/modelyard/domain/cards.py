"""Model and dataset cards: the YAML front matter at the top of README.md."""

from __future__ import annotations

import re
from typing import Any

import yaml

from modelyard.domain.errors import BadRequest

CARD_PATH = "README.md"  # a repository's card: the README.md at its root
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", re.DOTALL)
# YAML aliases share one node however often it is referenced: a few hundred bytes can stand for billions of
# values ("billion laughs") that rendering the metadata as JSON would expand. Real cards hold far fewer.
MAX_CARD_VALUES = 1_000_000


def front_matter(text: str) -> dict[str, Any]:
    """The card's metadata; raises BadRequest when the YAML block is not a valid mapping."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise BadRequest(f"Invalid YAML in README.md: {error}") from None  # the Hub's words
    except RecursionError:  # the parser recurses once per level: `a: [[[[...]]]]` thousands deep
        raise BadRequest("The README.md metadata block is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as error:  # constructors: a date like 2024-02-30, 1e999999...
        raise BadRequest(f"Invalid value in the README.md metadata block: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("The README.md metadata block must be a YAML mapping (key: value pairs)")
    _check_json_like(data)
    return data


def _check_json_like(data: dict[str, Any]) -> None:
    """BadRequest unless the metadata can be rendered as JSON: no binary values, no alias cycles, and at most
    MAX_CARD_VALUES values once aliases are expanded. Walks each shared node once (iteratively)."""
    sizes: dict[int, int] = {}  # id(container) -> values it expands to
    visiting: set[int] = set()
    pending: list[tuple[Any, bool]] = [(data, False)]
    while pending:
        node, children_done = pending.pop()
        if isinstance(node, bytes):
            raise BadRequest("Binary values (!!binary) are not supported in the README.md metadata block")
        if not isinstance(node, dict | list | set):
            continue
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else list(node)
        if children_done:
            visiting.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
            if sizes[id(node)] > MAX_CARD_VALUES:
                raise BadRequest(
                    f"The README.md metadata block holds more than {MAX_CARD_VALUES} values "
                    "(each use of a YAML alias counts in full)"
                )
        elif id(node) in visiting:
            raise BadRequest("The README.md metadata block contains itself (a recursive YAML alias)")
        elif id(node) not in sizes:
            visiting.add(id(node))
            pending.append((node, True))
            pending.extend((child, False) for child in children)


def card_body(text: str) -> str:
    """The card's Markdown: what follows its metadata block (the whole text when it has none)."""
    match = _FRONT_MATTER.match(text)
    return text if match is None else text[match.end() :]


def lenient_front_matter(text: str) -> dict[str, Any]:
    """Like front_matter, but a broken card reads as empty metadata (for listings and info); never raises."""
    try:
        return front_matter(text)
    except Exception:  # whatever a committed README holds, repo info and listings must still answer
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
