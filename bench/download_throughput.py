"""Download throughput and memory of Modelyard against nginx, serving the same large LFS file on 127.0.0.1.

Goals (issues 2 and 9): a 1 GB download grows the server's memory by less than 100 MB, and reaches at least 0.9x the
throughput of nginx (Debian's package, sendfile on) serving the same file in the same run with the same client;
4 concurrent downloads of it reach at least 0.9x nginx's aggregate throughput.

    .venv/bin/python bench/download_throughput.py [--size-mb 1024] [--rounds 5] [--concurrent 4] [--counted]

With --counted the repository's card names `library_name: fasttext`, whose query file is any `*.bin`
(docs/popularity.md): every download of the file is then a counted download, flushed every 5 s, and the count the
API shows at the end is checked against the downloads made.

Memory growth is counted from the server's RSS right after the upload, before its first download (a fresh server),
to the peak over every download. One round right after the upload, while the server may still be busy with
background work (the LFS -> Xet copy), is reported beside the settled rounds.

It prints the figures and PASS/FAIL per goal, and exits 0 whatever they are: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    CurlResult,
    RssSampler,
    bench_workdir,
    cpu_seconds,
    curl_download,
    load_warning,
    machine_description,
    median,
    modelyard_serving,
    nginx_serving,
    rss_kib,
    served_random_file,
    source_revision,
    step,
    upload_with_huggingface_hub,
    wait_until_idle,
)

THROUGHPUT_GOAL = 0.9  # Modelyard / nginx, for one download and for the aggregate of concurrent ones
MEMORY_GOAL_MB = 100
REPO_ID = "bench/big"
FILENAME = "big.bin"
SLOW_RATE = "100M"  # curl --limit-rate for the slow reader: the server must hold back, not buffer the file
SLOW_SECONDS = 5
FLUSH_SECONDS = 5
COUNTED_CARD = b"---\nlibrary_name: fasttext\n---\n# Bench model\n"


@dataclass
class Round:
    result: CurlResult
    server_cpu: float  # CPU seconds the server's processes used during the download


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (default 1024 = 1 GiB)")
    parser.add_argument("--rounds", type=int, default=5, help="timed downloads per server (default 5)")
    parser.add_argument(
        "--concurrent", type=int, default=4, help="downloads at once in the aggregate rounds (default 4; 0 skips them)"
    )
    parser.add_argument(
        "--nginx-sendfile", choices=("on", "off"), default="on", help="nginx's sendfile (default on, the reference)"
    )
    parser.add_argument("--nginx-extra", default="", help="more nginx directives for its http block")
    parser.add_argument(
        "--counted", action="store_true", help="make the file the repository's query file: every download counts"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    size = args.size_mb * MIB

    print(f"Machine: {machine_description()}")
    print(f"Code: {source_revision()}")
    print(load_warning())
    print(f"File: {size:,} bytes of random data; client: curl to /dev/null; {args.rounds} rounds each, alternating")
    try:
        with bench_workdir("modelyard-bench-download-") as work:
            run(work, size, args)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temp dir removed", file=sys.stderr)
        return 130
    return 0


def run(work: Path, size: int, args: argparse.Namespace) -> None:
    www, source, expected_sha = served_random_file(work, FILENAME, size)

    nginx_options = {"sendfile": args.nginx_sendfile == "on", "extra_http_config": args.nginx_extra}
    # One PUT for the upload rather than 64 MiB parts: this bench is about downloads, so its setup stays
    # independent of the multipart path.
    single_put = {"MODELYARD_LFS_MULTIPART_CHUNK_SIZE": str(size + MIB)}
    with (
        nginx_serving(www, work, **nginx_options) as nginx,
        modelyard_serving(
            work, extra_env={**single_put, "MODELYARD_DOWNLOAD_FLUSH_SECONDS": str(FLUSH_SECONDS)}
        ) as server,
    ):
        urls = {"nginx": f"{nginx.url}/{FILENAME}", "modelyard": f"{server.url}/{REPO_ID}/resolve/main/{FILENAME}"}
        pids = {"nginx": nginx.pid, "modelyard": server.pid}
        print(f"nginx: {urls['nginx']} (sendfile {args.nginx_sendfile}; master pid {nginx.pid})")
        print(f"Modelyard: {urls['modelyard']} (server pid {server.pid})")

        step("uploading with huggingface_hub (HF_HUB_DISABLE_XET=1, so through LFS)")
        started = time.monotonic()
        commit = upload_with_huggingface_hub(server, REPO_ID, source, FILENAME)
        print(f"  commit {commit[:12]} in {time.monotonic() - started:.1f}s")
        if args.counted:
            card = work / "README.md"
            card.write_bytes(COUNTED_CARD)
            upload_with_huggingface_hub(server, REPO_ID, card, "README.md", create_repo=False)
            print(f"  README.md names library_name: fasttext: every download of {FILENAME} counts")
        baseline_kib = rss_kib(server.pid)
        print(f"  server RSS before the first download: {baseline_kib / 1024:.1f} MiB")

        # What a user sees who downloads as soon as the upload returns: background work (the LFS -> Xet
        # copy) may still be running on the server's CPUs.
        step("one download from each server right after the upload, without waiting for background work")
        eager: dict[str, Round] = {}
        with RssSampler(server.pid, interval=0.05) as eager_memory:
            for name, url in urls.items():
                eager[name] = timed_round(url, pids[name], size)
                print(
                    f"  {name:<9} {eager[name].result.mib_per_s:8.1f} MiB/s (server CPU {eager[name].server_cpu:.2f}s)"
                )

        step("checking the served bytes (sha256 of the body streamed with httpx)")
        verify(urls["modelyard"], size, expected_sha)

        step("waiting for the Modelyard server to go idle (background work after the upload)")
        waited = wait_until_idle(server.pid)
        print(f"  idle after {waited:.0f}s" if waited is not None else "  WARNING: still busy after 300s; measuring")

        step("warming up (one untimed download from each)")
        for url in urls.values():
            check(curl_download(url), size, url)

        step(f"timing {args.rounds} downloads from each server, alternating")
        rounds: dict[str, list[Round]] = {"nginx": [], "modelyard": []}
        with RssSampler(server.pid, interval=0.25) as settled_memory:
            for number in range(1, args.rounds + 1):
                for name, url in urls.items():
                    done = timed_round(url, pids[name], size)
                    rounds[name].append(done)
                    print_round(number, name, done)

            together: dict[str, list[Round]] = {"nginx": [], "modelyard": []}
            if args.concurrent:
                step(f"timing {args.rounds} rounds of {args.concurrent} concurrent downloads from each, alternating")
            for number in range(1, args.rounds + 1 if args.concurrent else 1):
                for name, url in urls.items():
                    done = concurrent_round(url, pids[name], size, args.concurrent)
                    together[name].append(done)
                    print_round(number, name, done, " in all")

        step("sampling the Modelyard server's RSS every 50 ms during a full-speed download")
        with RssSampler(server.pid, interval=0.05) as fast:
            check(curl_download(urls["modelyard"]), size, urls["modelyard"])
        print(f"  {len(fast.samples)} samples; growth {fast.growth_mib:.1f} MiB")

        step(f"... and during {SLOW_SECONDS}s of a slow reader (curl --limit-rate {SLOW_RATE}, then hangs up)")
        with RssSampler(server.pid, interval=0.05) as slow:
            partial = curl_download(urls["modelyard"], extra_args=("--limit-rate", SLOW_RATE, "-m", str(SLOW_SECONDS)))
        sent = partial.size / MIB
        print(f"  {len(slow.samples)} samples while {sent:.0f} MiB went out; growth {slow.growth_mib:.1f} MiB")
        if args.counted:
            # Every GET from the first byte: eager, verify, warm-up, timed, concurrent, fast and slow reader.
            made = 5 + args.rounds + (args.rounds * args.concurrent)
            time.sleep(FLUSH_SECONDS + 1)
            counted = httpx.get(f"{server.url}/api/models/{REPO_ID}").json()["downloads"]
            print(f"Downloads counted: {counted} of {made} made, {verdict(counted == made)}")

    peak_mib = max(sampler.peak_mib for sampler in (eager_memory, settled_memory, fast, slow))
    summarize(size, eager, rounds, fast, slow, baseline_kib / 1024, peak_mib)
    if args.concurrent:
        summarize_concurrent(size, together, args.concurrent)
    print(load_warning())


def timed_round(url: str, pid: int, size: int) -> Round:
    cpu_before = cpu_seconds(pid)
    result = check(curl_download(url), size, url)
    return Round(result, cpu_seconds(pid) - cpu_before)


def print_round(number: int, name: str, done: Round, what: str = "") -> None:
    print(
        f"  round {number} {name:<9} {done.result.mib_per_s:8.1f} MiB/s{what}  ({done.result.seconds:.2f}s, "
        f"server CPU {done.server_cpu:.2f}s, load {os.getloadavg()[0]:.2f})"
    )


def concurrent_round(url: str, pid: int, size: int, count: int) -> Round:
    """`count` downloads started together; the aggregate rate is their bytes over the time until the last ended."""
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        for result in pool.map(lambda _: curl_download(url), range(count)):
            check(result, size, url)
    seconds = time.monotonic() - started
    return Round(CurlResult(200, count * size, seconds, count * size / seconds), cpu_seconds(pid) - cpu_before)


def check(result: CurlResult, size: int, url: str) -> CurlResult:
    if result.status != 200 or result.size != size:
        raise RuntimeError(f"{url}: HTTP {result.status}, {result.size:,} bytes (expected 200 and {size:,})")
    return result


def verify(url: str, size: int, expected_sha: str) -> None:
    digest = hashlib.sha256()
    received = 0
    with httpx.stream("GET", url, timeout=None) as response:
        response.raise_for_status()
        if "x-linked-etag" not in response.headers:
            raise RuntimeError(f"{url} was not served from LFS storage (no X-Linked-Etag header)")
        for block in response.iter_raw(4 * MIB):
            digest.update(block)
            received += len(block)
    if received != size or digest.hexdigest() != expected_sha:
        raise RuntimeError(f"{url}: {received:,} bytes with sha256 {digest.hexdigest()}, expected {expected_sha}")
    print(f"  {received:,} bytes, sha256 {expected_sha[:16]}... matches the file")


def summarize(
    size: int,
    eager: dict[str, Round],
    rounds: dict[str, list[Round]],
    fast: RssSampler,
    slow: RssSampler,
    baseline_mib: float,
    peak_mib: float,
) -> None:
    gib = size / (1024 * MIB)
    best = {name: max(r.result.mib_per_s for r in runs) for name, runs in rounds.items()}
    middle = {name: median([r.result.mib_per_s for r in runs]) for name, runs in rounds.items()}
    cpu = {name: median([r.server_cpu for r in runs]) / gib for name, runs in rounds.items()}
    ratio_median = middle["modelyard"] / middle["nginx"]
    ratio_best = best["modelyard"] / best["nginx"]
    ratio_eager = eager["modelyard"].result.mib_per_s / eager["nginx"].result.mib_per_s
    growth_mb = (peak_mib - baseline_mib) * MIB / 1e6

    print("\n=== Summary ===")
    print(f"{'':<12}{'right after upload':>20}{'best MiB/s':>12}{'median MiB/s':>14}{'server CPU s/GiB':>18}")
    for name, label in (("nginx", "nginx"), ("modelyard", "Modelyard")):
        print(
            f"{label:<12}{eager[name].result.mib_per_s:>20.1f}{best[name]:>12.1f}{middle[name]:>14.1f}{cpu[name]:>18.2f}"
        )
    print(f"Throughput ratio Modelyard/nginx, settled: {ratio_median:.2f} (medians), {ratio_best:.2f} (bests)")
    print(f"  goal >= {THROUGHPUT_GOAL}: {verdict(ratio_median >= THROUGHPUT_GOAL)} (judged on the medians)")
    print(
        f"Throughput ratio right after the upload (one round, background work still running): {ratio_eager:.2f}, "
        f"{verdict(ratio_eager >= THROUGHPUT_GOAL)}"
    )
    for label, sampler in (("full-speed reader", fast), ("slow reader", slow)):
        print(
            f"Server RSS, {label}: baseline {sampler.baseline_mib:.1f} MiB, peak {sampler.peak_mib:.1f} MiB, "
            f"growth {sampler.growth_mib:.1f} MiB"
        )
    print(
        f"Server RSS before the first download: {baseline_mib:.1f} MiB; peak over every download: {peak_mib:.1f} MiB; "
        f"growth {growth_mb:.1f} MB"
    )
    print(
        f"  goal < {MEMORY_GOAL_MB} MB growth: {verdict(growth_mb < MEMORY_GOAL_MB)} (from before the first download)"
    )


def summarize_concurrent(size: int, together: dict[str, list[Round]], count: int) -> None:
    gib = count * size / (1024 * MIB)
    middle = {name: median([r.result.mib_per_s for r in runs]) for name, runs in together.items()}
    cpu = {name: median([r.server_cpu for r in runs]) / gib for name, runs in together.items()}
    ratio = middle["modelyard"] / middle["nginx"]
    print(f"{count} concurrent downloads, aggregate median MiB/s (server CPU s/GiB):")
    for name, label in (("nginx", "nginx"), ("modelyard", "Modelyard")):
        print(f"  {label:<10}{middle[name]:>10.1f}  ({cpu[name]:.2f})")
    print(
        f"Aggregate ratio Modelyard/nginx: {ratio:.2f} (medians), "
        f"goal >= {THROUGHPUT_GOAL}: {verdict(ratio >= THROUGHPUT_GOAL)}"
    )


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
