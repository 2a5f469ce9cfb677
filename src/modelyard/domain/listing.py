"""What a repository listing asks for (`GET /api/models|datasets|spaces`), parsed and checked, and the text
listings search: no I/O here.

Parameters are the ones huggingface_hub 2.4 sends (docs/architecture.md, "Listing and search"): `search`
(repeatable; every whitespace-separated word must occur, case-insensitively, in the id, the card title or a tag;
with `fullText=true` also in the card's text), `author`, `filter` (repeatable, exact tags, all required), the
tag shortcuts `library`, `language`, `license`, `dataset`, `gated`, `pipeline_tag`, `num_parameters`, the
Spaces' `linked`, `models`, `datasets`, `sort`, `direction`, `limit` and `cursor`. `inference`,
`inference_provider` and `apps` are accepted and narrow nothing: a self-hosted hub has no inference providers
or apps to filter on.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from modelyard.domain.errors import BadRequest
from modelyard.domain.numbers import INT64_MAX, parse_natural
from modelyard.domain.repo_ids import RepoType, validate_name_part

PAGE_SIZE = 1000  # the most items one page holds; `limit` asks for fewer
# The most items a page holds when each lists its files (`full`, `expand=siblings`…): every item then reads its
# git tree, which a repository of many files makes large; the client follows the Link header to the next page.
FILES_PAGE_SIZE = 100
# Bounds on what one request may ask, so that no query grows without limit.
MAX_SEARCH_WORDS = 10
MAX_WORD_LENGTH = 200
MAX_TAGS = 20
MAX_TAG_LENGTH = 300
# The trigram indexes (SQLite FTS5 trigram, PostgreSQL pg_trgm) find words of at least this many characters.
TRIGRAM = 3

# API name -> the repos column listings sort on (each has an index with the type, db/models.py).
SORTS = {
    "trendingScore": "trending_score",
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "last_modified",
    "createdAt": "created_at",
    "id": "id_key",
}
SORT_ALIASES = {"trending_score": "trendingScore", "last_modified": "lastModified", "created_at": "createdAt"}
DEFAULT_SORT = "trendingScore"
DATE_SORTS = ("lastModified", "createdAt")
DIRECTIONS = {"-1": True, "desc": True, "1": False, "asc": False}  # -> descending
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_PARAMETER_COUNT = re.compile(r"([0-9]+(?:\.[0-9]+)?)([kmbt]?)")
_SCALES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LINK_FIELDS = {"models": "model", "datasets": "dataset"}  # a Space's card field -> what it names


class QueryParams(Protocol):
    """A query string's parameters, each possibly repeated (Starlette's QueryParams)."""

    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the repo `repo_pk` whose sort column holds `value`."""

    sort: str
    descending: bool
    value: int | float | str | datetime
    repo_pk: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        text = json.dumps([self.sort, self.descending, value, self.repo_pk], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str, descending: bool) -> Cursor:
        """The cursor `text` spells, for a listing sorted by `sort`; 400 when it is not one of ours for it."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor_sort, cursor_descending, value, repo_pk = json.loads(raw)
        except (binascii.Error, ValueError, TypeError, RecursionError):  # RecursionError: '[[[[...' nested deep
            raise BadRequest(f"Invalid cursor {text[:100]!r}: pass the cursor of a Link header unchanged") from None
        if (cursor_sort, cursor_descending) != (sort, descending) or not _is_int64(repo_pk):
            raise BadRequest("This cursor belongs to another listing: pass the Link header's URL unchanged")
        return cls(sort, descending, _sort_value(sort, value), repo_pk)


def _is_int64(value: object) -> bool:
    """Whether `value` is an integer the database can compare (a larger one is no cursor of ours)."""
    return type(value) is int and -INT64_MAX <= value <= INT64_MAX


def _comparable(value: object) -> bool:
    """Whether the database can compare `value`: an int64, a finite float, a repository id (PostgreSQL refuses a
    NUL byte or a lone surrogate in text)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return _is_repo_key(value)
    return _is_int64(value)


def _is_repo_key(value: str) -> bool:
    namespace, slash, name = value.partition("/")
    try:
        validate_name_part(namespace)
        validate_name_part(name)
    except BadRequest:
        return False
    return bool(slash)


def _sort_value(sort: str, value: object) -> int | float | str | datetime:
    expected: tuple[type, ...] = {"id": (str,), "trendingScore": (int, float)}.get(sort, (int,))
    if sort in DATE_SORTS and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    elif type(value) in expected and _comparable(value):
        return value  # type: ignore[return-value]
    raise BadRequest("Invalid cursor: pass the Link header's URL unchanged")


@dataclass(frozen=True)
class ListingQuery:
    repo_type: RepoType
    search_words: tuple[str, ...] = ()  # lower-cased; every one must match
    full_text: bool = False  # search the card's text too
    author: str | None = None
    tags: tuple[str, ...] = ()  # exact tags, every one required
    gated: bool | None = None
    pipeline_tag: str | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    linked: bool = False  # Spaces that name a model or a dataset in their card
    linked_models: tuple[str, ...] = ()  # lower-cased ids
    linked_datasets: tuple[str, ...] = ()
    sort: str = DEFAULT_SORT
    descending: bool = True
    page_size: int = PAGE_SIZE
    after: Cursor | None = None

    @property
    def sort_column(self) -> str:
        return SORTS[self.sort]

    @classmethod
    def parse(cls, repo_type: RepoType, params: QueryParams, reads_files: bool = False) -> ListingQuery:
        """The listing `params` ask for; BadRequest naming the parameter when a value is not understood.
        `reads_files`: the items list their files, so pages hold at most FILES_PAGE_SIZE."""
        sort = _sort(_last(params, "sort"))
        descending = _direction(_last(params, "direction"))
        cursor = _last(params, "cursor")
        parameters = _parameter_range(_last(params, "num_parameters"))
        author = _last(params, "author")
        pipeline_tag = _last(params, "pipeline_tag")
        return cls(
            repo_type=repo_type,
            search_words=search_words(params.getlist("search")),
            full_text=_boolean(params, "fullText") or False,
            author=validate_name_part(author, "author") if author else None,
            tags=_tags(repo_type, params),
            gated=_boolean(params, "gated"),
            pipeline_tag=_bounded("pipeline_tag", pipeline_tag) if pipeline_tag else None,
            min_parameters=parameters[0],
            max_parameters=parameters[1],
            linked=_boolean(params, "linked") or False,
            linked_models=_repo_ids(params, "models"),
            linked_datasets=_repo_ids(params, "datasets"),
            sort=sort,
            descending=descending,
            page_size=_page_size(_last(params, "limit"), FILES_PAGE_SIZE if reads_files else PAGE_SIZE),
            after=Cursor.decode(cursor, sort, descending) if cursor else None,
        )


def _last(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    return values[-1] if values else None


def _bounded(name: str, value: str, limit: int = MAX_TAG_LENGTH) -> str:
    if len(value) > limit or _CONTROL.search(value):
        raise BadRequest(f"Invalid {name} {value[:100]!r}: at most {limit} characters, no control characters")
    return value


def search_words(values: Iterable[str]) -> tuple[str, ...]:
    """The words of `search` values, lower-cased: a repo matches when each occurs in its search text."""
    words: list[str] = []
    for value in values:
        words.extend(_bounded("search", word, MAX_WORD_LENGTH).lower() for word in value.split())
    if len(words) > MAX_SEARCH_WORDS:
        raise BadRequest(f"Too many search words: at most {MAX_SEARCH_WORDS}")
    return tuple(dict.fromkeys(words))


def _tags(repo_type: RepoType, params: QueryParams) -> tuple[str, ...]:
    """`filter` values, and the shortcuts spelled the way the Hub tags repos of `repo_type` (`license=mit` is the
    tag `license:mit`; a dataset's `language=fr` is `language:fr`, a model's is `fr`)."""
    prefixes = {
        "library": "",
        "language": "language:" if repo_type is RepoType.DATASET else "",
        "license": "license:",
        "dataset": "dataset:",
    }
    tags = [value for value in params.getlist("filter") if value]
    for name, prefix in prefixes.items():
        tags.extend(value if value.startswith(prefix) else prefix + value for value in params.getlist(name) if value)
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Too many filters: at most {MAX_TAGS}")
    return tuple(dict.fromkeys(_bounded("filter", tag) for tag in tags))


def _repo_ids(params: QueryParams, name: str) -> tuple[str, ...]:
    ids = [_bounded(name, value).lower() for value in params.getlist(name) if value]
    if len(ids) > MAX_TAGS:
        raise BadRequest(f"Too many values of {name}: at most {MAX_TAGS}")
    return tuple(dict.fromkeys(ids))


def _boolean(params: QueryParams, name: str) -> bool | None:
    value = _last(params, name)
    if value is None:
        return None
    if value.lower() not in BOOLEANS:
        raise BadRequest(f"Invalid {name} {value[:100]!r}: expected true or false")
    return BOOLEANS[value.lower()]


def _sort(value: str | None) -> str:
    if not value:
        return DEFAULT_SORT
    sort = SORT_ALIASES.get(value, value)
    if sort not in SORTS:
        raise BadRequest(f"Invalid sort {value[:100]!r}: expected one of {', '.join(SORTS)}")
    return sort


def _direction(value: str | None) -> bool:
    if not value:
        return True
    if value.lower() not in DIRECTIONS:
        raise BadRequest(f"Invalid direction {value[:100]!r}: expected -1 (descending) or 1 (ascending)")
    return DIRECTIONS[value.lower()]


def _page_size(value: str | None, most: int) -> int:
    if value is None:
        return most
    limit = parse_natural(value)
    if limit is None:
        raise BadRequest(f"Invalid limit {value[:100]!r}: expected a non-negative integer")
    return min(limit, most) or most


def _parameter_range(value: str | None) -> tuple[int | None, int | None]:
    """`num_parameters` as the client sends it: `min:6B,max:128B`, either bound alone, K/M/B/T suffixes."""
    bounds: dict[str, int] = {}
    for part in (value or "").split(","):
        if not part:
            continue
        name, _, count = part.partition(":")
        match = _PARAMETER_COUNT.fullmatch(count.strip().lower())
        if name.strip() not in ("min", "max") or match is None or len(count) > 30:
            raise BadRequest(f"Invalid num_parameters {value[:100]!r}: expected e.g. min:6B,max:128B")
        # No model has 2**63 parameters: a larger bound means the same as that one, and the database can bind it.
        bounds[name.strip()] = min(round(float(match[1]) * _SCALES[match[2]]), INT64_MAX)
    return bounds.get("min"), bounds.get("max")


def search_document(repo_id: str, title: str, tags: Iterable[str]) -> str:
    """What `search` looks in for one repo: its id, card title and tags, one per line, lower-cased.

    One line each, so that a search word (which never holds a line break) cannot match across two of them.
    """
    lines = (" ".join(_CONTROL.sub(" ", text).split()).lower() for text in (repo_id, title, *sorted(tags)))
    return "\n".join(line for line in lines if line)


def search_body(card_text: str) -> str:
    """The card's text as `fullText` searches it: lower-cased, whitespace (line breaks too) made single spaces."""
    return " ".join(_CONTROL.sub(" ", card_text).split()).lower()


def like_pattern(word: str) -> str:
    """A LIKE pattern (escape character backslash) matching text that contains `word`."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts_phrase(word: str) -> str:
    """`word` as an FTS5 phrase: with the trigram tokenizer, it matches text that contains it."""
    return '"' + word.replace('"', '""') + '"'


def space_links(card: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, lower-cased id) of every model and dataset a Space's card metadata names."""
    links = set()
    for field, kind in LINK_FIELDS.items():
        value = card.get(field)
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        links.update((kind, name.lower()) for name in names if isinstance(name, str) and 0 < len(name) <= 200)
    return links
