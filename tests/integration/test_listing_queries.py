"""A listing page costs the same few database queries whatever its size: the facts of its items (cards, tags,
model tree, Spaces) are loaded for the whole page at once. Runs on a hub opened in-process (no server), on the
session's backend (SQLite, or PostgreSQL with MODELYARD_TEST_BACKEND=postgresql)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select

from conftest import _database
from modelyard.config import Settings
from modelyard.db.models import ModelBase, Repo, RepoCard, RepoLink, RepoTag
from modelyard.domain.dates import utcnow
from modelyard.domain.repo_fields import EXPANDABLE, FILE_FIELDS, listing_fields
from modelyard.domain.repo_ids import RepoType
from modelyard.services import repo_facts
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord

MODELS = 40


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with _database(tmp_path) as url:
        hub = Hub.open(Settings(data_dir=tmp_path / "data", database_url=url))
        yield hub
        hub.db.engine.dispose()


def _seed(hub: Hub) -> list[RepoRecord]:
    """MODELS models, each a fine-tune of the one before, each used by a public Space (and a private one)."""
    now = utcnow()
    with hub.db.session() as session:
        rows = []
        for index in range(MODELS):
            for kind, name, private in (("model", f"m{index}", False), ("space", f"s{index}", index % 2 == 1)):
                row = Repo(type=kind, namespace="org", name=name, id_key=f"org/{name}", storage_key=f"{kind}{index}",
                           private=private, gated="", created_at=now, last_modified=now, downloads=index)  # fmt: skip
                session.add(row)
                rows.append(row)
        session.flush()
        for row in rows:
            card = {"license": "mit", "tags": [f"t{row.id}"]}
            if row.type == "space":
                card = {"sdk": "gradio", "models": [f"org/m{row.name[1:]}"]}
                session.add(RepoLink(repo_id=row.id, kind="model", target_key=f"org/m{row.name[1:]}"))
            elif row.name != "m0":
                card["base_model"] = f"org/m{int(row.name[1:]) - 1}"
                session.add(ModelBase(repo_id=row.id, base_key=card["base_model"], base_id=card["base_model"],
                                      relation="finetune"))  # fmt: skip
            session.add(RepoCard(repo_id=row.id, commit=f"{row.id:040x}", card=card, card_text="", warnings=[],
                                 config={"architectures": ["LlamaForCausalLM"]}, indexed_at=now))  # fmt: skip
            session.add_all(RepoTag(repo_id=row.id, tag=tag) for tag in (*card.get("tags", []), "license:mit"))
        models = session.scalars(select(Repo).where(Repo.type == "model").order_by(Repo.id)).all()
        return [RepoRecord.of(row) for row in models]


def _statements(hub: Hub, work: Callable[[], object]) -> int:
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(hub.db.engine, "before_cursor_execute", counted)
    try:
        work()
    finally:
        event.remove(hub.db.engine, "before_cursor_execute", counted)
    return count


def test_a_page_costs_the_same_queries_whatever_its_size(hub: Hub) -> None:
    records = _seed(hub)
    from_database = sorted(EXPANDABLE[RepoType.MODEL] - FILE_FIELDS)  # this hub has no git repositories
    fields = listing_fields(RepoType.MODEL, from_database, False, False, False)
    small = _statements(hub, lambda: repo_facts.page(hub, records[:2], fields))
    large = _statements(hub, lambda: repo_facts.page(hub, records, fields))
    assert small == large <= 5  # cards, tags, bases, children, Spaces

    items = {item.record.ref.name: item for item in repo_facts.page(hub, records, fields)}
    assert len(items) == MODELS
    assert items["m0"].facts.children == 1 and items["m0"].facts.base_models == []
    assert [(base.id, base.relation) for base in items["m5"].facts.base_models] == [("org/m4", "finetune")]
    assert items["m5"].facts.base_models[0].pk == records[4].pk
    assert items["m4"].facts.spaces == ["org/s4"]
    assert items["m5"].facts.spaces == []  # its Space is private
    assert items["m3"].facts.tags == sorted(["license:mit", f"t{records[3].pk}"])
    assert items["m3"].sha == f"{records[3].pk:040x}"

    plain = listing_fields(RepoType.MODEL, [], False, False, False)
    assert _statements(hub, lambda: repo_facts.page(hub, records, plain)) <= 2  # cards and tags only


def test_spaces_of_a_full_page_of_models(hub: Hub) -> None:
    """A page of 1000 models asks for their Spaces by key: one LIKE per model, ORed, was past SQLite's expression
    depth (a 500 for `list_models(expand=["spaces"])`) and scanned every public Space's card."""
    now = utcnow()
    with hub.db.session() as session:
        rows = [
            Repo(type=kind, namespace="big", name=f"{kind}{index}", id_key=f"big/{kind}{index}",
                 storage_key=f"big-{kind}{index}", private=False, gated="", created_at=now, last_modified=now)
            for index in range(1000)
            for kind in ("model", "space")
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        space = next(row for row in rows if row.name == "space7")
        session.add(RepoLink(repo_id=space.id, kind="model", target_key="big/model7"))  # as the index writes them
        session.add(RepoCard(repo_id=space.id, commit="0" * 40, card={"models": ["big/model7"]}, card_text="",
                             warnings=[], indexed_at=now))  # fmt: skip
        models = [RepoRecord.of(row) for row in rows if row.type == "model"]
    fields = listing_fields(RepoType.MODEL, ["spaces"], False, False, False)
    items = {item.record.ref.name: item for item in repo_facts.page(hub, models, fields)}
    assert items["model7"].facts.spaces == ["big/space7"]
    assert items["model8"].facts.spaces == []
