"""datasets: `load_dataset("ns/name")` on dataset repos holding CSV, JSON, JSON Lines and parquet files built in the
test."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRAIN = [
    {"id": 1, "text": "the first row", "score": 0.5},
    {"id": 2, "text": "a second, with a comma", "score": 1.25},
    {"id": 3, "text": "third", "score": -2.0},
]
TEST = [
    {"id": 10, "text": "held out", "score": 3.5},
    {"id": 11, "text": "also held out", "score": 0.0},
]
EXTRA = [{"id": 100 + i, "text": f"parquet row {i}", "score": i / 4} for i in range(7)]

README = b"""---
license: cc0-1.0
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train.csv
  - split: test
    path: data/test.csv
---

# A tiny dataset made by the Modelyard tests
"""


def _csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _rows(split) -> list[dict]:
    return [dict(row) for row in split]


@pytest.fixture
def datasets_cache(tmp_path: Path) -> Path:
    """A fresh datasets cache (HF_DATASETS_CACHE) for each test."""
    return tmp_path / "datasets-cache"


def test_load_dataset_csv_config_and_parquet_data_files(make_repo, datasets_cache: Path):
    from datasets import load_dataset

    rid = make_repo(
        {
            "README.md": README,
            "data/train.csv": _csv(TRAIN),
            "data/test.csv": _csv(TEST),
            "pq/train.parquet": _parquet(EXTRA),
        },
        repo_type="dataset",
    )

    default = load_dataset(rid, cache_dir=str(datasets_cache))
    assert set(default) == {"train", "test"}
    assert _rows(default["train"]) == TRAIN
    assert _rows(default["test"]) == TEST

    # datasets picks one builder per repo from its configs, so the parquet file (outside the configs) is
    # reached with data_files=, which resolves paths inside the repo.
    explicit = load_dataset(rid, data_files={"train": "pq/train.parquet"}, cache_dir=str(datasets_cache))
    assert _rows(explicit["train"]) == EXTRA

    only_test = load_dataset(rid, data_files="data/test.csv", split="train", cache_dir=str(datasets_cache))
    assert _rows(only_test) == TEST
    assert any(datasets_cache.iterdir())  # it really used the fresh cache


def test_load_dataset_without_readme_infers_splits(make_repo, datasets_cache: Path):
    from datasets import load_dataset

    rid = make_repo({"data/train.parquet": _parquet(TRAIN), "data/test.parquet": _parquet(TEST)}, repo_type="dataset")

    ds = load_dataset(rid, cache_dir=str(datasets_cache))
    assert set(ds) == {"train", "test"}
    assert _rows(ds["train"]) == TRAIN
    assert _rows(ds["test"]) == TEST


def test_load_dataset_csv_at_revision(api, make_repo, datasets_cache: Path):
    from datasets import load_dataset

    rid = make_repo({"data/train.csv": _csv(TRAIN)}, repo_type="dataset")
    first = api.dataset_info(rid).sha
    api.upload_file(repo_id=rid, repo_type="dataset", path_or_fileobj=_csv(TRAIN + TEST), path_in_repo="data/train.csv")

    assert _rows(load_dataset(rid, split="train", cache_dir=str(datasets_cache))) == TRAIN + TEST
    old = load_dataset(rid, split="train", revision=first, cache_dir=str(datasets_cache / "old"))
    assert _rows(old) == TRAIN


def test_load_missing_dataset(datasets_cache: Path, alice):
    from datasets import load_dataset
    from datasets.exceptions import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError):
        load_dataset(f"{alice.name}/no-such-dataset-anywhere", cache_dir=str(datasets_cache))


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_load_dataset_jsonl_splits_by_file_name(make_repo, datasets_cache: Path):
    from datasets import load_dataset

    rid = make_repo({"train.jsonl": _jsonl(TRAIN), "test.jsonl": _jsonl(TEST)}, repo_type="dataset")

    ds = load_dataset(rid, cache_dir=str(datasets_cache))
    assert set(ds) == {"train", "test"}
    assert _rows(ds["train"]) == TRAIN
    assert _rows(ds["test"]) == TEST


def test_load_dataset_json_array_and_lines_with_a_config(make_repo, datasets_cache: Path):
    from datasets import load_dataset

    readme = README.replace(b"data/train.csv", b"data/train.json").replace(b"data/test.csv", b"data/test.jsonl")
    rid = make_repo(
        {
            "README.md": readme,
            "data/train.json": json.dumps(TRAIN).encode(),  # one JSON array
            "data/test.jsonl": _jsonl(TEST),
        },
        repo_type="dataset",
    )

    ds = load_dataset(rid, cache_dir=str(datasets_cache))
    assert set(ds) == {"train", "test"}
    assert _rows(ds["train"]) == TRAIN
    assert _rows(ds["test"]) == TEST
