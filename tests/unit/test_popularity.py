"""Download counting rules, the in-memory tally, and the trending formula (pure domain code)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from modelyard.domain import download_counting, popularity
from modelyard.domain.download_tally import DATASET_VISIT_SECONDS, DownloadTally, FileRequest, asks_metadata_first
from modelyard.domain.repo_ids import RepoType

MODEL, DATASET, SPACE = RepoType.MODEL, RepoType.DATASET, RepoType.SPACE
NOON = 1_780_000_000.0  # a moment well inside one UTC day
HF_HUB = "transformers/5.0.0; hf_hub/2.4.0; python/3.12; torch/2.5"


# ---- which files count ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("library", "path", "counted"),
    [
        ("", "config.json", True),
        ("", "params.json", True),
        ("", "hyperparams.yaml", True),
        ("transformers", "config.json", True),
        ("", "model.safetensors", False),
        ("", "model-00001-of-00002.safetensors", False),
        ("", "tokenizer.json", False),
        ("", "README.md", False),
        ("", "sub/config.json", False),  # the query names the whole path: the root's only
        ("peft", "adapter_config.json", True),
        ("peft", "config.json", False),  # a library's query replaces the default
        ("nemo", "model.nemo", True),
        ("nemo", "sub/model.nemo", True),  # an extension term matches at any depth
        ("keras", "model.keras", True),
        ("fasttext", "model.bin", True),
        ("fasttext", "model.binx", False),
        ("diffusers", "model_index.json", True),
        ("diffusers", "unet/config.json", False),
    ],
)
def test_model_query_files(library: str, path: str, counted: bool):
    assert download_counting.counts(MODEL, library, path) is counted
    if counted:
        assert download_counting.may_count(MODEL, path), "the cheap test never rules out a counting file"


def test_datasets_count_every_file_and_spaces_none():
    assert download_counting.counts(DATASET, "", "data/train-00000.parquet")
    assert download_counting.may_count(DATASET, "README.md")
    assert not download_counting.counts(SPACE, "", "config.json")
    assert not download_counting.may_count(SPACE, "app.py")


def test_the_cheap_test_rules_out_weights():
    assert not download_counting.may_count(MODEL, "model-00001-of-00004.safetensors")
    assert not download_counting.may_count(MODEL, "merges.txt")


# ---- the tally ---------------------------------------------------------------------------------------------
def _model(method: str, *, visitor: str = "10.0.0.1", client: str = HF_HUB, continuation: bool = False):
    return FileRequest(1, MODEL, "config.json", visitor, method, asks_metadata_first(client), continuation)


def test_huggingface_hub_downloads_count_at_the_head():
    tally = DownloadTally()
    assert tally.record(_model("HEAD"), NOON)
    assert not tally.record(_model("GET"), NOON + 0.1), "the GET after the HEAD is the same download"
    assert tally.record(_model("HEAD"), NOON + 5), "a cached copy checked again is another download"
    assert tally.drain(NOON + 6) == {(1, popularity_day(NOON)): 2}


def test_huggingface_hub_is_known_by_its_user_agent():
    assert asks_metadata_first("unknown/None; hf_hub/2.4.0; python/3.11")
    assert not asks_metadata_first("curl/8.5.0")
    assert not asks_metadata_first("Mozilla/5.0 (X11; Linux x86_64) not_hf_hub/1")


def test_plain_clients_count_each_get():
    tally = DownloadTally()
    for offset in range(3):
        assert tally.record(_model("GET", client="curl/8.5.0"), NOON + offset)
    assert tally.pending() == 3


def test_a_resumed_or_partial_read_never_counts():
    tally = DownloadTally()
    assert not tally.record(_model("GET", client="curl/8.5.0", continuation=True), NOON)
    assert tally.pending() == 0


def test_a_dataset_visit_is_one_download_per_visitor():
    tally = DownloadTally()

    def request(path: str, visitor: str = "10.0.0.1", method: str = "GET") -> FileRequest:
        return FileRequest(7, DATASET, path, visitor, method, True)

    assert tally.record(request("README.md", method="HEAD"), NOON)
    assert not tally.record(request("data/train.parquet"), NOON + 10)
    assert not tally.record(request("data/test.parquet"), NOON + DATASET_VISIT_SECONDS - 1)
    assert tally.record(request("data/train.parquet", visitor="10.0.0.2"), NOON + 20), "another visitor"
    assert tally.record(request("data/train.parquet"), NOON + DATASET_VISIT_SECONDS), "a new visit"
    assert tally.pending() == 3


def test_drain_forgets_and_restore_gives_back():
    tally = DownloadTally()
    tally.record(_model("HEAD"), NOON)
    tally.record(_model("HEAD"), NOON + 86_400)  # the next UTC day
    drained = tally.drain(NOON + 86_401)
    assert sorted(drained.values()) == [1, 1] and len({day for _, day in drained}) == 2
    assert tally.pending() == 0
    tally.restore(drained)
    tally.record(_model("HEAD"), NOON)
    assert tally.pending() == 3
    assert tally.drain(NOON)[(1, popularity_day(NOON))] == 2, "restored counts add to the new ones"


def test_old_visits_are_forgotten_at_drain():
    tally = DownloadTally()
    tally.record(FileRequest(7, DATASET, "a", "v", "GET"), NOON)
    tally.drain(NOON + DATASET_VISIT_SECONDS + 1)
    assert tally.record(FileRequest(7, DATASET, "a", "v", "GET"), NOON + 1), "the visit was forgotten"


def popularity_day(moment: float) -> date:
    from modelyard.domain.download_tally import utc_day

    return utc_day(moment)


# ---- trending ----------------------------------------------------------------------------------------------
TODAY = date(2026, 12, 3)


def _days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def test_recency_weight_halves_every_half_life_and_stops_at_the_window():
    assert popularity.recency_weight(TODAY, TODAY) == 1.0
    assert popularity.recency_weight(TODAY, _days_ago(3)) == pytest.approx(0.5)
    assert popularity.recency_weight(TODAY, _days_ago(6)) == pytest.approx(0.25)
    assert popularity.recency_weight(TODAY, _days_ago(popularity.TRENDING_WINDOW_DAYS)) == 0.0
    assert popularity.recency_weight(TODAY, TODAY + timedelta(days=1)) == 0.0


def test_trending_score_formula():
    likes = {TODAY: 2, _days_ago(3): 4}
    downloads = {TODAY: 300, _days_ago(20): 10_000}
    expected = 1.0 * (2 + 300 / popularity.DOWNLOADS_PER_LIKE) + 0.5 * 4
    assert popularity.trending_score(TODAY, likes, downloads) == pytest.approx(expected)


def test_trending_orders_recent_activity_first():
    recent = popularity.trending_score(TODAY, {TODAY: 3}, {})
    older = popularity.trending_score(TODAY, {_days_ago(5): 3}, {})
    downloads_only = popularity.trending_score(TODAY, {}, {TODAY: 150})
    assert recent > older > 0
    assert recent > downloads_only > 0
    assert popularity.trending_score(TODAY, {}, {}) == 0.0


def test_the_score_decays_as_days_pass_without_events():
    events = {TODAY: 10}
    scores = [popularity.trending_score(TODAY + timedelta(days=n), events, {}) for n in range(16)]
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] == 0.0


def test_window_starts():
    assert popularity.downloads_window_start(TODAY) == _days_ago(29)
    assert popularity.trending_window_start(TODAY) == _days_ago(13)
