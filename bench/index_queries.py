"""Listing and search at scale: `list_models(search=…, sort="downloads", limit=50)` and `model_info` against a
live server whose index holds 100,000 and then 1,000,000 repositories.

    PYTHONPATH=src .venv/bin/python bench/index_queries.py [--backend sqlite|postgresql|both]
        [--repos 100000] [--large 1000000] [--requests 60] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

For each backend: a fresh hub (`modelyard serve`, one worker; PostgreSQL in a fresh database dropped at the end),
a few real repositories made through huggingface_hub (for `model_info`, which reads git), then index rows
inserted straight into the database in bulk, as `repo_index.refresh` and the popularity counters would have left
them: repos (2% private, popularity columns set), repo_cards, repo_tags and the search documents. Searches mix
words matching many repos, few, CJK card titles and a two-letter word (no trigram index: the fallback).
Goals (issue 13): search p50 < 50 ms and model_info p50 < 10 ms at 100,000 repos; search p50 < 150 ms at
1,000,000. Prints each p50 and its ratio to the goal (< 1 meets it). A measurement, not a test: it exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_workdir, load_warning, machine_description, modelyard_serving, source_revision, step

from modelyard.db.database import Database
from modelyard.db.models import Repo, RepoCard, RepoSearch, RepoTag
from modelyard.domain.listing import search_document

# Model families and how often they occur (weights), so that searches range from common words to rare ones.
FAMILIES = {
    "llama": 30, "qwen": 20, "mistral": 12, "bert": 10, "gemma": 8, "phi": 6, "whisper": 4, "t5": 3,
    "falcon": 2, "bloom": 2, "deberta": 1, "starcoder": 1, "mamba": 0.5, "olmo": 0.2,
}  # fmt: skip
VARIANTS = ("7b", "13b", "70b", "instruct", "chat", "gguf", "awq", "lora", "base", "finetuned", "v2", "small")
CJK_TITLES = ("中文对话模型", "文本分类模型", "图像生成", "机器翻译", "语音识别模型", "代码生成助手")
LICENSES = ("apache-2.0", "mit", "llama2", "cc-by-nc-4.0", "other")
PIPELINES = ("text-generation", "text-classification", "automatic-speech-recognition", "translation")
SEARCHES = ("llama", "qwen-7b", "whisper", "deberta-v2", "olmo", "中文对话", "语音识别", "7b")
GOALS_MS = {"search": 50.0, "model_info": 10.0, "search at 1M": 150.0}
BATCH = 5000


def rows_for(numbers: range, rng: random.Random) -> Iterator[tuple[dict, dict, list[dict], dict]]:
    """(repo, card, tags, search document) rows for repos `numbers`, as the index would hold them."""
    families, weights = list(FAMILIES), list(FAMILIES.values())
    now = datetime.now(UTC)
    for number in numbers:
        family = rng.choices(families, weights)[0]
        namespace = f"org{number % 5000}"
        name = f"{family}-{rng.choice(VARIANTS)}-{number}"
        title = rng.choice(CJK_TITLES) if rng.random() < 0.05 else f"{family.title()} {name}"
        license_ = rng.choice(LICENSES)
        pipeline = rng.choice(PIPELINES)
        tags = ["transformers", pipeline, f"license:{license_}", rng.choice(("en", "zh", "fr"))]
        if rng.random() < 0.3:
            tags.append(f"base_model:finetune:meta-llama/{family}-base")
        created = now - timedelta(seconds=30 * (number % 1_000_000_000))
        repo = {
            "id": number,
            "type": "model",
            "namespace": namespace,
            "name": name,
            "id_key": f"{namespace}/{name}".lower(),
            "storage_key": f"bench{number}",
            "private": rng.random() < 0.02,
            "gated": "",
            "created_at": created,
            "last_modified": created,
            "downloads": int(rng.paretovariate(1.2) * 10),
            "downloads_all_time": int(rng.paretovariate(1.2) * 100),
            "likes": int(rng.paretovariate(1.5)),
            "trending_score": rng.random() * 100,
            "creator_id": None,
        }
        card = {
            "repo_id": number,
            "commit": "0" * 40,
            "card": {"license": license_, "pipeline_tag": pipeline},
            "card_text": "",
            "title": title,
            "license": license_,
            "pipeline_tag": pipeline,
            "library_name": "transformers",
            "warnings": [],
            "indexed_at": now,
        }
        document = {"repo_id": number, "document": search_document(f"{namespace}/{name}", title, tags), "body": ""}
        yield repo, card, [{"repo_id": number, "tag": tag} for tag in tags], document


def seed(database: Database, numbers: range, rng: random.Random) -> float:
    """Insert the index rows of repos `numbers` in batches; the seconds it took."""
    started = time.monotonic()
    batch: list[tuple[dict, dict, list[dict], dict]] = []

    def flush() -> None:
        with database.engine.begin() as connection:
            connection.execute(Repo.__table__.insert(), [repo for repo, _, _, _ in batch])
            connection.execute(RepoCard.__table__.insert(), [card for _, card, _, _ in batch])
            connection.execute(RepoTag.__table__.insert(), [tag for _, _, tags, _ in batch for tag in tags])
            connection.execute(RepoSearch.__table__.insert(), [document for _, _, _, document in batch])
        batch.clear()

    for number, rows in enumerate(rows_for(numbers, rng), start=1):
        batch.append(rows)
        if len(batch) == BATCH:
            flush()
        if number % 100_000 == 0:
            step(f"{number:,} of {len(numbers):,} repos inserted ({time.monotonic() - started:.0f} s)")
    if batch:
        flush()
    with database.engine.begin() as connection:
        if database.engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")  # what autovacuum does after a bulk load
    return time.monotonic() - started


def p50(call: Callable[[], object], count: int) -> tuple[float, list[float]]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), timings


def measure_searches(api, count: int) -> float:  # type: ignore[no-untyped-def]
    """Each search word `count` times; prints each word's p50 and result count; returns the p50 of all."""
    everything: list[float] = []
    for word in SEARCHES:
        found = list(api.list_models(search=word, sort="downloads", limit=50))  # also warms the caches
        median, timings = p50(lambda word=word: list(api.list_models(search=word, sort="downloads", limit=50)), count)
        everything += timings
        print(f"    search {word!r:>16}: p50 {median:7.1f} ms ({len(found)} results on the first page)")
    return statistics.median(everything)


def references(api, url: str, count: int) -> None:  # type: ignore[no-untyped-def]
    """What any request costs on this machine now: the floor under the figures above."""
    with httpx.Client(base_url=url) as client:
        health, _ = p50(lambda: client.get("/api/health").raise_for_status(), count)
    listing, _ = p50(lambda: list(api.list_models(sort="downloads", limit=50)), count)
    print(f"  references: GET /api/health p50 {health:.1f} ms; list_models(sort='downloads', limit=50), no search,")
    print(f"  p50 {listing:.1f} ms")


def report(name: str, value: float) -> None:
    goal = GOALS_MS[name]
    verdict = "meets the goal" if value < goal else "MISSES the goal"
    print(f"  {name:>13}: p50 {value:7.1f} ms, goal < {goal:.0f} ms, ratio {value / goal:.2f} ({verdict})")


@contextlib.contextmanager
def database_url(backend: str, admin_url: str) -> Iterator[str]:
    """A database for one run: the server's own SQLite file (empty URL), or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield ""
        return
    import psycopg
    from psycopg import sql

    name = f"modelyard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{admin_url.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run(backend: str, args: argparse.Namespace) -> None:
    from huggingface_hub import HfApi

    print(f"\n== {backend} ==")
    rng = random.Random(13)
    with bench_workdir() as work, database_url(backend, args.database_url) as url:
        extra = {"MODELYARD_DATABASE_URL": url} if url else {}
        with modelyard_serving(work, extra_env=extra) as server:
            api = HfApi(endpoint=server.url, token=False)
            owner = HfApi(endpoint=server.url, token=server.token)
            step("creating real repos through the API")
            real = [f"{server.user}/real-model-{number}" for number in range(3)]
            for repo_id in real:
                owner.create_repo(repo_id)
                card = b"---\nlicense: mit\ntags: [bench]\n---\n# A real model\n"
                owner.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo_id)
            database = Database(url or f"sqlite:///{server.data_dir / 'modelyard.db'}")
            first = 1_000_000_000  # far above the real repos' ids
            step(f"seeding {args.repos:,} repos")
            seconds = seed(database, range(first, first + args.repos), rng)
            print(f"  seeded {args.repos:,} repos in {seconds:.0f} s; {load_warning()}")
            search = measure_searches(api, args.requests)
            info, _ = p50(lambda: api.model_info(real[0]), args.requests * 4)
            report("search", search)
            report("model_info", info)
            references(api, server.url, args.requests * 4)
            if args.large > args.repos:
                step(f"seeding up to {args.large:,} repos")
                seconds = seed(database, range(first + args.repos, first + args.large), rng)
                print(f"  seeded {args.large - args.repos:,} more repos in {seconds:.0f} s; {load_warning()}")
                report("search at 1M", measure_searches(api, args.requests))
            database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60, help="calls per search word")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"Machine: {machine_description()}\nCode: {source_revision()}\n{load_warning()}")
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        run(backend, args)
    print(load_warning())


if __name__ == "__main__":
    main()
