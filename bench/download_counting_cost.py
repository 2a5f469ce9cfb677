"""What counting a download costs the request that triggers it: `services.download_counts.count`, timed in process.

    .venv/bin/python bench/download_counting_cost.py [--calls 200000]

Times the call the resolve route makes for every file it serves, for a file that is never counted (a weights shard),
for a model's query file (`config.json`, counted in memory) and for a dataset file within one visit; and one flush of
the counts to SQLite. The card is read once per commit and cached, so the loop measures the steady state.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from modelyard.config import Settings
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services import download_counts, repos, users
from modelyard.services.hub import Hub

HF_HUB = "transformers/5.0.0; hf_hub/2.4.0; python/3.11"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-counting-") as work:
        hub = Hub.open(Settings(data_dir=Path(work)))
        users.create_user(hub, "bench")
        actor = users.authenticate(hub, users.create_token(hub, "bench", "write"))
        model = repos.create_repo(hub, actor, RepoRef(RepoType.MODEL, "bench", "model"), private=False)
        dataset = repos.create_repo(hub, actor, RepoRef(RepoType.DATASET, "bench", "data"), private=False)
        card = dict  # no card: the default query files

        cases = (
            ("weights shard, never counted (GET)", model, "model-00001-of-00002.safetensors", "GET", "curl/8"),
            ("config.json by huggingface_hub (HEAD: counted)", model, "config.json", "HEAD", HF_HUB),
            ("config.json by huggingface_hub (GET: not counted)", model, "config.json", "GET", HF_HUB),
            ("dataset file within one visit (GET)", dataset, "data/train.parquet", "GET", HF_HUB),
        )
        print(f"{args.calls:,} calls each; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        for label, record, path, method, agent in cases:
            started = time.perf_counter()
            for _ in range(args.calls):
                download_counts.count(hub, record, "0" * 40, path, card, method, "127.0.0.1", agent, None)
            per_call = (time.perf_counter() - started) / args.calls
            print(f"  {label:<52} {per_call * 1e6:6.2f} µs per request")
        pending = download_counts.pending(hub)
        started = time.perf_counter()
        written = download_counts.flush(hub)
        print(f"  flush of {written:,} downloads ({pending:,} pending) to SQLite: {time.perf_counter() - started:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
