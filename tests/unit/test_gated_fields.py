"""The access form of a gated repository's card: declared fields, all required, each checked by its type."""

from __future__ import annotations

import pytest

from modelyard.domain.errors import BadRequest
from modelyard.domain.gated_fields import declared_fields, validate_answers

CARD = {
    "extra_gated_fields": {
        "Company": "text",
        "Country": "country",
        "When": "date_picker",
        "Purpose": {"type": "select", "options": ["Research", {"label": "Other", "value": "other"}]},
        "I agree": "checkbox",
        "Odd": "not-a-type",
    }
}
GOOD = {"Company": "Acme", "Country": "France", "When": "2026-01-31", "Purpose": "other", "I agree": True}


def test_valid_answers_keep_only_declared_fields():
    assert validate_answers(CARD, {**GOOD, "Extra": "dropped"}) == GOOD
    assert validate_answers(CARD, {**GOOD, "I agree": "on"})["I agree"] is True  # as an HTML form posts it


@pytest.mark.parametrize(
    "change",
    [
        {"Company": ""},
        {"Company": None},
        {"Country": 3},
        {"When": "tomorrow"},
        {"Purpose": "Other"},  # the option's value counts, not its label
        {"I agree": False},
        {"I agree": "off"},
        {"Company": "x" * 2001},
    ],
)
def test_missing_or_invalid_answers_are_refused(change):
    with pytest.raises(BadRequest):
        validate_answers(CARD, {**GOOD, **change})


def test_cards_without_a_valid_form_ask_nothing():
    assert declared_fields({}) == {}
    assert declared_fields({"extra_gated_fields": ["a list"]}) == {}
    assert "Odd" not in declared_fields(CARD)
    assert validate_answers({}, {"anything": 1}) == {}
