"""Repository info and listing items on a hub of many indexed repositories, in-process (no HTTP, no client).

Seeds N models (default 100,000) straight into the index tables (repo rows, card rows, seven tags each, one base
each among the first 1,000), creates one real repository to answer for, then times the service and renderer
that `model_info` and a listing page call: the default info (with the repository lookup), an info with three
`expand` values, and a page of 50 items, default and with five `expand` values.

    PYTHONPATH=src .venv/bin/python bench/info_fields.py [N] [DATABASE_URL]

DATABASE_URL is an empty PostgreSQL database to fill (default: a SQLite file in a temp dir).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from modelyard.api.render import info_json, listing_json
from modelyard.config import Settings
from modelyard.db.models import ModelBase, Repo, RepoCard, RepoTag
from modelyard.domain.dates import utcnow
from modelyard.domain.repo_fields import info_fields, listing_fields
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services import repo_facts, repos, users
from modelyard.services.hub import Hub

BATCH = 10_000
CARD = {"license": "apache-2.0", "tags": ["a", "b"], "pipeline_tag": "text-generation", "library_name": "transformers"}
TAGS = ("a", "b", "transformers", "text-generation", "license:apache-2.0", "base_model:org/m1", "dataset:org/d")


def seed(hub: Hub, count: int) -> None:
    now = utcnow()
    with hub.db.engine.begin() as connection:
        for start in range(0, count, BATCH):
            ids = range(start + 10, min(count, start + BATCH) + 10)
            connection.execute(insert(Repo), [
                dict(id=pk, type="model", namespace="org", name=f"m{pk}", id_key=f"org/m{pk}", storage_key=f"k{pk}",
                     private=False, gated="", created_at=now, last_modified=now, downloads=pk) for pk in ids
            ])  # fmt: skip
            connection.execute(insert(RepoCard), [
                dict(repo_id=pk, commit="0" * 40, card=CARD, card_text="# T\n\nText.", title="T", license="apache-2.0",
                     pipeline_tag="text-generation", library_name="transformers", warnings=[],
                     config={"architectures": ["LlamaForCausalLM"], "model_type": "llama"}, indexed_at=now)
                for pk in ids
            ])  # fmt: skip
            connection.execute(insert(RepoTag), [dict(repo_id=pk, tag=tag) for pk in ids for tag in TAGS])
            connection.execute(insert(ModelBase), [
                dict(repo_id=pk, base_key=f"org/m{pk % 1000 + 10}", base_id=f"org/m{pk % 1000 + 10}",
                     relation="finetune") for pk in ids
            ])  # fmt: skip
    if hub.db.engine.dialect.name == "postgresql":  # statistics, as autovacuum would gather them
        with hub.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


def timed(work: Callable[[], object], rounds: int) -> str:
    work()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return f"p50 {statistics.median(samples):6.2f} ms   p95 {samples[int(len(samples) * 0.95)]:6.2f} ms"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = Path(tempfile.mkdtemp(prefix="modelyard-bench-info-"))
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{data}/modelyard.db"
    hub = Hub.open(Settings(data_dir=data / "data", database_url=url))
    started = time.perf_counter()
    seed(hub, count)
    print(f"{count} indexed models seeded in {time.perf_counter() - started:.0f} s ({hub.db.engine.dialect.name})")
    users.create_user(hub, "bench")
    actor = users.authenticate(hub, users.create_token(hub, "bench", "write"))
    ref = repos.create_repo(hub, actor, RepoRef(RepoType.MODEL, "bench", "answered"), False).ref

    def info(expand: list[str]) -> Callable[[], object]:
        fields = info_fields(RepoType.MODEL, expand)
        return lambda: info_json(repo_facts.info(hub, repos.get_repo(hub, actor, ref), "main", fields, False), fields)

    with hub.db.session() as session:
        rows = session.scalars(select(Repo).where(Repo.type == "model").order_by(Repo.downloads.desc()).limit(50))
        page = [repos.RepoRecord.of(row) for row in rows]

    def listing(expand: list[str]) -> Callable[[], object]:
        fields = listing_fields(RepoType.MODEL, expand, full=False, card_data=False, config=False)
        return lambda: listing_json(repo_facts.page(hub, page, fields), fields)

    print(f"model_info, default fields         {timed(info([]), 300)}")
    print(f"model_info, expand=cardData,tags,sha {timed(info(['cardData', 'tags', 'sha']), 300)}")
    print(f"listing page of 50, default item    {timed(listing([]), 100)}")
    five = ["cardData", "childrenModelCount", "baseModels", "transformersInfo", "tags"]
    print(f"listing page of 50, expand=5 fields {timed(listing(five), 100)}")


if __name__ == "__main__":
    main()
