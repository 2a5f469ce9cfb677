"""Repository listings and search (`list_models`, `list_datasets`, `list_spaces`): one SQL query per page.

Visibility is part of the query (services/access.visible_repos), so a private repository the caller may not see
is never read, listed or counted. Pages follow each other by keyset (the sort value and id of the last repo
shown), so a page costs the same at any depth.

How a search runs depends on the database. PostgreSQL keeps statistics (pg_trgm's GIN index, LIKE selectivity
from the column's histogram), so one query with the words as a semi-join lets its planner choose between the
trigram index and the sort order. SQLite has none: a probe counts the FTS5 trigram index's matches for the words
of three characters or more, up to PROBE_LIMIT; fewer are fetched by id and sorted, more are found walking the
sort column's index and checking each repo's document, as words shorter than three characters always are.
docs/architecture.md, "Listing and search", explains the choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, column, exists, func, literal_column, or_, select, table
from sqlalchemy.orm import Session

from modelyard.db.models import Repo, RepoCard, RepoLink, RepoSearch, RepoTag
from modelyard.domain.listing import TRIGRAM, Cursor, ListingQuery, fts_phrase, like_pattern
from modelyard.services.access import visible_repos
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

# Past this many matches of the indexed words, SQLite reads the sort order and checks documents: a page of 50 is
# then found within about 50 * repos / PROBE_LIMIT rows of the sort index.
PROBE_LIMIT = 5000
_FTS = table("repo_search_fts", column("rowid"))


@dataclass(frozen=True)
class ListingPage:
    records: list[RepoRecord]
    next_cursor: str | None  # None on the last page


def list_repos(hub: Hub, actor: Actor | None, query: ListingQuery) -> ListingPage:
    """One page of the repositories `query` asks for that `actor` can see, in its order."""
    sort_column = getattr(Repo, query.sort_column)
    with hub.db.session() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        searched, few_matches = _search(session, query, sqlite)
        tagged, few_tagged = _tagged(session, query, sqlite)
        # SQLite's planner has no statistics and, given an ORDER BY it can read from an index, walks that index
        # whatever else narrows the listing. When a search or a tag matches few repos, they are fetched by id and
        # sorted (the type and the sort column are compared as expressions no index covers); an author's repos
        # are read from the namespace index and sorted (the sort column alone is hidden).
        few = sqlite and (few_matches or few_tagged)
        kind = _unindexed(Repo.type) if few else Repo.type
        order = _unindexed(sort_column) if few or (sqlite and query.author) else sort_column
        statement = (
            select(Repo, sort_column)
            .where(kind == query.repo_type.value, visible_repos(actor))
            .where(*_filters(query), *tagged, *searched)
        )
        rows = session.execute(_ordered(statement, query, sort_column, order).limit(query.page_size + 1)).all()
    shown = rows[: query.page_size]
    records = [RepoRecord.of(repo) for repo, _ in shown]
    if len(rows) <= query.page_size:
        return ListingPage(records, None)
    last, value = shown[-1]
    return ListingPage(records, Cursor(query.sort, query.descending, value, last.id).encode())


def _ordered(statement: Select, query: ListingQuery, sort_column: ColumnElement, order: ColumnElement) -> Select:  # type: ignore[type-arg]
    """In the query's order, ties by id (same direction, so one index serves both), from the cursor on.

    `order` is the sort column or, when the matches are few, an expression of it that no index provides.
    """
    if query.after is not None:
        value, pk = query.after.value, query.after.repo_pk
        if query.descending:
            statement = statement.where(sort_column <= value, or_(sort_column < value, Repo.id < pk))
        else:
            statement = statement.where(sort_column >= value, or_(sort_column > value, Repo.id > pk))
    if query.descending:
        return statement.order_by(order.desc(), Repo.id.desc())
    return statement.order_by(order.asc(), Repo.id.asc())


def _unindexed(column: ColumnElement) -> ColumnElement:  # type: ignore[type-arg]
    """`column`'s value, as an expression that no index covers."""
    return func.coalesce(column, column)


def _filters(query: ListingQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.author:
        conditions.append(func.lower(Repo.namespace) == query.author.lower())
    if query.gated is not None:
        conditions.append(Repo.gated != "" if query.gated else Repo.gated == "")
    card = [RepoCard.repo_id == Repo.id]
    if query.pipeline_tag:
        card.append(RepoCard.pipeline_tag == query.pipeline_tag)
    parameters = RepoCard.safetensors["total"].as_float()
    if query.min_parameters is not None:
        card.append(parameters >= query.min_parameters)
    if query.max_parameters is not None:
        card.append(parameters <= query.max_parameters)
    if len(card) > 1:
        conditions.append(exists().where(*card))
    if query.linked:
        conditions.append(Repo.id.in_(select(RepoLink.repo_id)))
    for kind, keys in (("model", query.linked_models), ("dataset", query.linked_datasets)):
        conditions.extend(
            Repo.id.in_(select(RepoLink.repo_id).where(RepoLink.kind == kind, RepoLink.target_key == key))
            for key in keys
        )
    return conditions


def _tagged(session: Session, query: ListingQuery, sqlite: bool) -> tuple[list[ColumnElement[bool]], bool]:
    """Conditions that keep the repositories with every tag, and whether one of the tags has few (SQLite only:
    those are fetched by id, the others checked repo by repo)."""
    conditions: list[ColumnElement[bool]] = []
    few = False
    for tag in query.tags:
        tagged = select(RepoTag.repo_id).where(RepoTag.tag == tag)
        if not sqlite or _few(session, tagged):
            conditions.append(Repo.id.in_(tagged))
            few = sqlite
        else:
            conditions.append(exists().where(RepoTag.repo_id == Repo.id, RepoTag.tag == tag))
    return conditions, few


def _few(session: Session, matches: Select) -> bool:  # type: ignore[type-arg]
    """Whether `matches` holds fewer than PROBE_LIMIT rows, read up to that many."""
    counted = matches.limit(PROBE_LIMIT).subquery()
    return session.scalar(select(func.count()).select_from(counted)) < PROBE_LIMIT  # type: ignore[operator]


def _search(session: Session, query: ListingQuery, sqlite: bool) -> tuple[list[ColumnElement[bool]], bool]:
    """Conditions that keep the repositories whose search text contains every search word, and whether they are
    the few matches SQLite's index found (to be fetched by id and sorted)."""
    words = query.search_words
    if not words:
        return [], False
    if not sqlite:
        texts = [RepoSearch.document, *([RepoSearch.body] if query.full_text else [])]
        contains = [or_(*(text.like(like_pattern(word), escape="\\") for text in texts)) for word in words]
        return [exists().where(RepoSearch.repo_id == Repo.id, *contains)], False
    indexed = [word for word in words if len(word) >= TRIGRAM]
    if indexed and _few(session, _fts_matches(indexed, query.full_text)):
        matches = Repo.id.in_(_fts_matches(indexed, query.full_text))
        return [matches, *_checked([word for word in words if len(word) < TRIGRAM], query.full_text)], True
    return _checked(words, query.full_text), False


def _fts_matches(words: Sequence[str], full_text: bool) -> Select:  # type: ignore[type-arg]
    """The ids of the repositories whose search text holds every word, from SQLite's FTS5 trigram index: a phrase
    matches where the text holds it as a substring; the column filter leaves out the card's text."""
    phrases = " AND ".join(fts_phrase(word) for word in words)
    expression = phrases if full_text else f"document : ({phrases})"
    return select(_FTS.c.rowid).where(literal_column("repo_search_fts").op("MATCH")(expression))


def _checked(words: Sequence[str], full_text: bool) -> list[ColumnElement[bool]]:
    """Conditions checking each repository's document as it comes, in the order the query reads them."""
    text = RepoSearch.document + "\n" + RepoSearch.body if full_text else RepoSearch.document
    searched = select(text).where(RepoSearch.repo_id == Repo.id).scalar_subquery()
    return [searched.like(like_pattern(word), escape="\\") for word in words]
