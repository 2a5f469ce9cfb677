"""What authenticating a request costs: the same `model_info` request with and without a token.

    PYTHONPATH=src .venv/bin/python bench/auth_overhead.py [--requests 300] [--rounds 4]

One server (SQLite, one worker), one public repository. Each round sends `--requests` sequential
`GET /api/models/bench/probe` over one keep-alive connection, anonymous (the reference: no authentication work)
and then with a valid token (the failed-authentication check, the token lookup, and the last-use note, written
at most once a minute); rounds alternate so that load drifts hit both. Prints per-request medians and p95s and
their ratio. A measurement, not a test: it exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_workdir, load_warning, machine_description, modelyard_serving, source_revision, step


def timed(client: httpx.Client, headers: dict[str, str], count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get("/api/models/bench/probe", headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    print(f"Machine: {machine_description()}\nCode: {source_revision()}\n{load_warning()}")
    with bench_workdir() as work, modelyard_serving(work) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.post("/api/repos/create", json={"name": "probe", "type": "model"}, headers=auth).raise_for_status()
            timed(client, auth, 50)  # warm up both paths
            timed(client, {}, 50)
            anonymous: list[float] = []
            with_token: list[float] = []
            for number in range(1, args.rounds + 1):
                step(f"round {number}: {args.requests} anonymous, then {args.requests} with a token")
                anonymous += timed(client, {}, args.requests)
                with_token += timed(client, auth, args.requests)
    p95 = lambda values: statistics.quantiles(values, n=20)[18]  # noqa: E731
    print(f"anonymous (reference): median {statistics.median(anonymous):.2f} ms, p95 {p95(anonymous):.2f} ms")
    print(f"with a token:          median {statistics.median(with_token):.2f} ms, p95 {p95(with_token):.2f} ms")
    print(f"ratio token/anonymous: median {statistics.median(with_token) / statistics.median(anonymous):.2f}")
    print(load_warning())


if __name__ == "__main__":
    main()
