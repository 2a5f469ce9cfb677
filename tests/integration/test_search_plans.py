"""Both ways SQLite runs a search (services/repo_search.py) give the same pages: matches fetched from the FTS5
trigram index and sorted, or the sort order walked and each repo's document checked. Which one runs depends on how
many repos match (PROBE_LIMIT), so the live tests' small hub only ever takes the first: here the limit is set to
take each in turn, over a database seeded through the search-document service, and both are compared with the
answer computed in Python. On PostgreSQL, whose planner chooses by itself, the same pages are checked once per
parametrization.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from conftest import _database
from modelyard.db.database import Database
from modelyard.db.models import Repo, RepoCard, RepoTag
from modelyard.domain.listing import ListingQuery, search_document
from modelyard.domain.repo_ids import RepoType
from modelyard.services import repo_search, search_documents

WORDS = ("llama", "qwen", "bert", "中文模型", "whisper", "x_y%z", "xay-z")  # the last: LIKE must escape
QUERIES = ("llama", "LLAMA 7b", "qwen-7", "中文模型", "中文", "x_y%z", "7b", "zzz-nothing", "whisper chat")


class Params(dict):
    def getlist(self, key: str) -> list[str]:
        value = self.get(key)
        return [] if value is None else [value]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Iterator[tuple[SimpleNamespace, dict[int, tuple]]]:
    """300 repos (some private), ids, titles and tags drawn from WORDS; pk -> (type, document, downloads, private,
    tags, namespace)."""
    rng = random.Random(5)
    with _database(tmp_path_factory.mktemp("plans")) as url:
        database = Database(url)
        database.migrate()
        expected = {}
        now = datetime.now(UTC)
        with database.session() as session:
            for number in range(300):
                word = rng.choice(WORDS)
                kind = RepoType.MODEL if number % 4 else RepoType.DATASET
                name = f"{word if word.isascii() else 'cn'}-{rng.choice(('7b', 'chat', 'base'))}-{number}"
                repo = Repo(
                    type=kind.value,
                    namespace=f"org{number % 7}",
                    name=name,
                    id_key=f"org{number % 7}/{name}".lower(),
                    storage_key=f"plan{number}",
                    private=number % 10 == 0,
                    gated="",
                    created_at=now - timedelta(seconds=number),
                    last_modified=now,
                    downloads=rng.randrange(5),  # many ties: the id decides
                    creator_id=None,
                )
                session.add(repo)
                session.flush()
                title = f"{rng.choice(WORDS).title()} model" if number % 3 else ""
                tags = [rng.choice(WORDS), "transformers"]
                session.add(
                    RepoCard(
                        repo_id=repo.id, commit="0" * 40, card={}, card_text="", title=title, license="",
                        pipeline_tag="", library_name="", warnings=[], indexed_at=now,
                    )
                )  # fmt: skip
                session.add_all(RepoTag(repo_id=repo.id, tag=tag) for tag in set(tags))
                session.flush()
                search_documents.index_repo(session, repo.id)
                document = search_document(f"{repo.namespace}/{name}", title, set(tags))
                expected[repo.id] = (kind.value, document, repo.downloads, repo.private, set(tags), repo.namespace)
        yield SimpleNamespace(db=database), expected
        database.engine.dispose()


def _pages(hub: SimpleNamespace, repo_type: RepoType, params: dict[str, str], limit: int) -> list[int]:
    """Every page of an anonymous listing, followed by cursor: the repos' ids in order."""
    shown: list[int] = []
    cursor = None
    while True:
        page_params = Params(params, sort="downloads", limit=str(limit), **({"cursor": cursor} if cursor else {}))
        page = repo_search.list_repos(hub, None, ListingQuery.parse(repo_type, page_params))  # type: ignore[arg-type]
        shown += [record.pk for record in page.records]
        if page.next_cursor is None:
            return shown
        cursor = page.next_cursor


@pytest.mark.parametrize("search", QUERIES)
@pytest.mark.parametrize("narrowed", [{}, {"filter": "llama"}, {"filter": "transformers"}, {"author": "org3"}])
@pytest.mark.parametrize("probe_limit", [0, 1_000_000], ids=["walk-the-sort-order", "fetch-by-id"])
def test_both_plans_give_the_expected_pages(seeded, monkeypatch, search: str, narrowed: dict, probe_limit: int):
    hub, repos = seeded
    monkeypatch.setattr(repo_search, "PROBE_LIMIT", probe_limit)
    words = search.lower().split()
    for repo_type in (RepoType.MODEL, RepoType.DATASET):
        matching = [
            (downloads, pk)
            for pk, (kind, document, downloads, private, tags, namespace) in repos.items()
            if kind == repo_type.value
            and not private
            and all(word in document for word in words)
            and narrowed.get("filter", "transformers") in tags
            and narrowed.get("author", namespace) == namespace
        ]
        expected = [pk for _, pk in sorted(matching, reverse=True)]
        assert _pages(hub, repo_type, {"search": search, **narrowed}, 7) == expected, (repo_type, search)
    assert any(_pages(hub, RepoType.MODEL, {"search": query}, 50) for query in QUERIES)
