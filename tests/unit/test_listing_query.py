"""What a listing request asks for (domain/listing.py): parameters as huggingface_hub sends them, cursors, and
the text search reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelyard.domain.errors import BadRequest
from modelyard.domain.listing import (
    FILES_PAGE_SIZE,
    PAGE_SIZE,
    Cursor,
    ListingQuery,
    fts_phrase,
    like_pattern,
    search_body,
    search_document,
)
from modelyard.domain.repo_ids import RepoType


class Params(dict):
    def getlist(self, key: str) -> list[str]:
        value = self.get(key, [])
        return value if isinstance(value, list) else [value]


def parse(repo_type: RepoType = RepoType.MODEL, **params) -> ListingQuery:
    return ListingQuery.parse(repo_type, Params(params))


def test_defaults():
    query = parse()
    assert (query.sort, query.descending, query.page_size, query.after) == ("trendingScore", True, PAGE_SIZE, None)
    assert query.search_words == query.tags == ()


def test_search_words_are_lower_cased_split_and_deduplicated():
    assert parse(search=["Llama 7B", "llama", "中文"]).search_words == ("llama", "7b", "中文")


def test_tag_shortcuts_follow_the_hubs_spelling_per_type():
    assert parse(license="mit", language="en", library="peft", dataset="org/data").tags == (
        "peft", "en", "license:mit", "dataset:org/data"
    )  # fmt: skip
    assert parse(RepoType.DATASET, language=["fr", "language:de"]).tags == ("language:fr", "language:de")
    assert parse(filter=["a", "a", "b"]).tags == ("a", "b")


@pytest.mark.parametrize(
    ("text", "bounds"),
    [("min:6B,max:128B", (6 * 10**9, 128 * 10**9)), ("max:1.5k", (None, 1500)), ("min:7", (7, None))],
)
def test_parameter_ranges(text, bounds):
    query = parse(num_parameters=text)
    assert (query.min_parameters, query.max_parameters) == bounds


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "stars"},
        {"direction": "0"},
        {"limit": "-3"},
        {"gated": "maybe"},
        {"num_parameters": "min:6X"},
        {"num_parameters": "least:6B"},
        {"search": "a\x00b"},
        {"filter": "x" * 301},
        {"author": "a/b"},
        {"cursor": "!!!"},
    ],
)
def test_bad_values_are_refused(params):
    with pytest.raises(BadRequest):
        parse(**params)


def test_sort_names_and_directions():
    assert (parse(sort="created_at").sort, parse(sort="lastModified").sort) == ("createdAt", "lastModified")
    assert parse(direction="1").descending is False and parse(direction="-1").descending is True
    assert parse(limit="5").page_size == 5 and parse(limit="5000").page_size == PAGE_SIZE


@pytest.mark.parametrize(
    ("sort", "value"),
    [("downloads", 12), ("trendingScore", 0.25), ("createdAt", datetime(2026, 1, 2, 3, 4, 5, 6, UTC)), ("id", "a/b")],
)
def test_cursors_round_trip_for_their_own_listing_only(sort, value):
    cursor = Cursor(sort, True, value, 42)
    assert parse(sort=sort, cursor=cursor.encode()).after == cursor
    with pytest.raises(BadRequest, match="another listing"):
        parse(sort=sort, direction="1", cursor=cursor.encode())


def test_a_cursor_with_a_value_of_the_wrong_type_is_refused():
    with pytest.raises(BadRequest):
        parse(sort="downloads", cursor=Cursor("downloads", True, "text", 1).encode())


def test_search_text_keeps_fields_on_their_own_lines():
    document = search_document("Org/Model", "Mon  Modèle\tÀ", ["b", "a\nb"])
    assert document == "org/model\nmon modèle à\na b\nb"
    assert search_body("Line one\nLine  TWO") == "line one line two"


def test_patterns_are_literal():
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
    assert fts_phrase('say "hi"') == '"say ""hi"""'


def test_pages_whose_items_list_their_files_are_smaller() -> None:
    files = ListingQuery.parse(RepoType.MODEL, Params({"limit": "1000"}), reads_files=True)
    assert files.page_size == FILES_PAGE_SIZE < PAGE_SIZE
    assert ListingQuery.parse(RepoType.MODEL, Params({}), reads_files=True).page_size == FILES_PAGE_SIZE
    assert ListingQuery.parse(RepoType.MODEL, Params({"limit": "5"}), reads_files=True).page_size == 5
    assert parse(limit="1000").page_size == PAGE_SIZE
