"""The access form a gated repository's card declares, and the check of what a user filled in.

The card's metadata may hold `extra_gated_fields`, a mapping of each field's label to its type, as on the Hub:
`text`, `checkbox`, `country`, `date_picker` (`date` is accepted too), or `{type: select, options: [...]}` whose
options are strings or `{label, value}`. Every declared field is required (a checkbox must be ticked), as in the
Hub's form; what is not declared is not kept.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from modelyard.domain.errors import BadRequest

FIELD_TYPES = ("text", "checkbox", "country", "date_picker", "date", "select")
MAX_VALUE_LENGTH = 2000
TICKED = (True, "on", "true", "yes", "1")  # a JSON true, or what an HTML checkbox posts


def declared_fields(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each declared field's label and its spec `{"type": …, "options": […]}`; a malformed card declares none
    it cannot describe (the card's author sees their fields missing, not users a 500)."""
    raw = card.get("extra_gated_fields")
    if not isinstance(raw, dict):
        return {}
    fields: dict[str, dict[str, Any]] = {}
    for label, spec in raw.items():
        if isinstance(spec, str):
            spec = {"type": spec}
        if isinstance(spec, dict) and spec.get("type") in FIELD_TYPES:
            fields[str(label)] = spec
    return fields


def validate_answers(card: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """The declared fields' values from `answers`; 400 naming the first field missing or invalid."""
    kept: dict[str, Any] = {}
    for label, spec in declared_fields(card).items():
        kept[label] = _value(label, spec, answers.get(label))
    return kept


def _value(label: str, spec: dict[str, Any], value: object) -> Any:
    kind = spec["type"]
    if kind == "checkbox":
        if value not in TICKED:
            raise BadRequest(f"The field {label!r} must be checked to request access")
        return True
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"The field {label!r} is required to request access")
    value = value.strip()
    if len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"The field {label!r} is longer than {MAX_VALUE_LENGTH} characters")
    if kind in ("date_picker", "date"):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise BadRequest(f"The field {label!r} must be a date (YYYY-MM-DD), not {value!r}") from None
    if kind == "select" and value not in _options(spec):
        raise BadRequest(f"The field {label!r} must be one of {', '.join(_options(spec))}")
    return value


def _options(spec: dict[str, Any]) -> list[str]:
    options = spec.get("options")
    if not isinstance(options, list):
        return []
    values = []
    for option in options:
        if isinstance(option, dict):
            option = option.get("value", option.get("label"))
        if isinstance(option, str | int | float):
            values.append(str(option))
    return values
