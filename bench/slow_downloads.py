"""Server memory and API latency while many slow clients download large files (issue 7).

Goal: 100 concurrent slow downloads (200 KB/s each) of a 1 GB file stored only as Xet, and of a 1 GB LFS file,
keep the server's RSS growth under 200 MB, and `model_info` answers with a p95 under 100 ms meanwhile.

    .venv/bin/python bench/slow_downloads.py [--size-mb 1024] [--clients 100] [--rate-kb 200] [--seconds 30]

The same random file is uploaded with huggingface_hub to two fresh servers: through hf_xet to `bench/xet-only`
(stored as xorbs only, and plain copies of Xet files are off, so a plain GET rebuilds the bytes while it sends
them), and through LFS to `bench/lfs` (served from the blob file; the server's LFS -> Xet conversion is off, so it
stays a plain LFS blob). On each, RSS (the server process and its children) is taken before the first download and
sampled every 100 ms during the load; growth is the peak during the load minus that baseline. One full-speed curl
download of each file, before the load, shows what the smaller pieces cost a fast reader. Meanwhile a separate
process calls `HfApi.model_info` every 100 ms; the same probe on the idle server, in the same run, is the reference.

Each slow client is a raw socket with a 256 KiB receive buffer (a slow reader's TCP window does not grow), sends
a plain GET of the resolve URL and reads 16 KiB at a time, sleeping to hold its average at the rate. It prints the
figures and PASS/FAIL per goal, and exits 0 whatever they are: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    ModelyardServer,
    RssSampler,
    bench_workdir,
    curl_download,
    load_warning,
    machine_description,
    modelyard_serving,
    rss_kib,
    source_revision,
    step,
    upload_with_huggingface_hub,
    wait_until_idle,
    write_random_file,
)

MEMORY_GOAL_MB = 200
LATENCY_GOAL_MS = 100
FILENAME = "big.bin"
REPOS = {"Xet-only": "bench/xet-only", "LFS": "bench/lfs"}
RECEIVE_BUFFER = 256 * 1024
READ_SIZE = 16 * 1024
PROBE_INTERVAL = 0.1

# The latency probe runs in its own interpreter, so that the slow clients' event loop cannot delay it.
_PROBE_SCRIPT = """
import json, sys, time
from huggingface_hub import HfApi

endpoint, token, repo_id, seconds, interval = sys.argv[1:]
api = HfApi(endpoint=endpoint, token=token)
api.model_info(repo_id)  # connection and imports warmed up
latencies, deadline = [], time.monotonic() + float(seconds)
while time.monotonic() < deadline:
    started = time.perf_counter()
    api.model_info(repo_id)
    latencies.append(time.perf_counter() - started)
    time.sleep(float(interval))
print(json.dumps(latencies))
"""


@dataclass
class Load:
    kind: str
    growth_mib: float
    peak_mib: float
    received: list[int]  # bytes each client got
    failures: list[str]
    latencies_ms: list[float]

    @property
    def growth_mb(self) -> float:
        return self.growth_mib * MIB / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (default 1024 = 1 GiB)")
    parser.add_argument("--clients", type=int, default=100, help="concurrent slow downloads per file (default 100)")
    parser.add_argument("--rate-kb", type=int, default=200, help="each client's read rate in KB/s (default 200)")
    parser.add_argument("--seconds", type=float, default=30, help="how long each load lasts (default 30)")
    parser.add_argument("--only", choices=sorted(REPOS), help="measure one kind of file only")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    print(f"Machine: {machine_description()}")
    print(f"Code: {source_revision()}")
    print(load_warning())
    print(
        f"File: {args.size_mb} MiB of random data; {args.clients} clients at {args.rate_kb} KB/s for "
        f"{args.seconds:.0f}s per file"
    )
    try:
        with bench_workdir("modelyard-bench-slow-") as work:
            run(work, args)
    except KeyboardInterrupt:
        print("\ninterrupted; server stopped and temp dir removed", file=sys.stderr)
        return 130
    print(load_warning())
    return 0


def run(work: Path, args: argparse.Namespace) -> None:
    size = args.size_mb * MIB
    source = work / "upload" / FILENAME
    source.parent.mkdir()
    step(f"writing {args.size_mb} MiB of random bytes")
    write_random_file(source, size)
    # No plain copies of Xet files: the Xet-only file is rebuilt from the xorbs while sent (a plain copy is sent
    # like the LFS blob, which the LFS case measures).
    settings = {
        "MODELYARD_LFS_MULTIPART_CHUNK_SIZE": str(size + MIB),
        "MODELYARD_XET_CONVERT_LFS": "false",
        "MODELYARD_XET_PLAIN_COPIES_BYTES": "0",
    }
    loads, idle = [], []
    for kind, repo in REPOS.items():
        if args.only not in (None, kind):
            continue
        # A fresh server per file: memory that one load leaves behind must not count against the other.
        with modelyard_serving(work / repo.replace("/", "-"), extra_env=settings) as server:
            print(f"{kind} file on a fresh server (pid {server.pid})")
            step(f"uploading to {repo} with huggingface_hub ({'through hf_xet' if kind == 'Xet-only' else 'LFS'})")
            started = time.monotonic()
            upload_with_huggingface_hub(server, repo, source, FILENAME, xet=kind == "Xet-only")
            print(f"  done in {time.monotonic() - started:.1f}s")
            waited = wait_until_idle(server.pid)
            print(f"  server idle after {waited:.0f}s" if waited is not None else "  WARNING: still busy; measuring")
            baseline_kib = rss_kib(server.pid)
            print(f"  server RSS before any download: {baseline_kib / 1024:.1f} MiB")

            step("checking how the file is served (headers, and the first and last MiB by Range)")
            check_served(server, kind, repo, source, size)
            fast = curl_download(f"{server.url}/{repo}/resolve/main/{FILENAME}")
            if fast.status != 200 or fast.size != size:
                raise RuntimeError(f"full-speed download: HTTP {fast.status}, {fast.size:,} bytes")
            print(f"  one full-speed download (curl): {fast.mib_per_s:.0f} MiB/s")
            step("model_info latency on the idle server (reference)")
            reference = probe_latencies(server, repo, seconds=5)
            idle += reference
            print(f"  p50 {percentile(reference, 50):.1f} ms, p95 {percentile(reference, 95):.1f} ms")

            step(f"{args.clients} slow downloads for {args.seconds:.0f}s, model_info meanwhile")
            load = measure_load(server, kind, repo, baseline_kib, args)
            loads.append(load)
            print(
                f"  RSS peak {load.peak_mib:.1f} MiB (growth {load.growth_mib:.1f} MiB); "
                f"clients got {min(load.received) / 1e6:.2f}-{max(load.received) / 1e6:.2f} MB each; "
                f"{len(load.failures)} failed; model_info p95 {percentile(load.latencies_ms, 95):.1f} ms"
            )
            for failure in load.failures[:5]:
                print(f"    failure: {failure}")
    summarize(loads, idle, args)


def check_served(server: ModelyardServer, kind: str, repo: str, source: Path, size: int) -> None:
    url = f"{server.url}/{repo}/resolve/main/{FILENAME}"
    head = httpx.head(url, timeout=30)
    head.raise_for_status()
    has_xet = "x-xet-hash" in head.headers
    if has_xet != (kind == "Xet-only"):
        raise RuntimeError(f"{url}: X-Xet-Hash {'present' if has_xet else 'missing'}, unexpected for {kind}")
    with source.open("rb") as original:
        for start in (0, size - MIB):
            original.seek(start)
            expected = original.read(MIB)
            got = httpx.get(url, headers={"Range": f"bytes={start}-{start + MIB - 1}"}, timeout=60)
            if got.status_code != 206 or got.content != expected:
                raise RuntimeError(f"{url}: bytes {start}+1MiB differ from the file (HTTP {got.status_code})")
    print(f"  {kind}: {'X-Xet-Hash, rebuilt from xorbs' if has_xet else 'LFS blob'}; ranges match the file")


def probe_latencies(server: ModelyardServer, repo: str, seconds: float) -> list[float]:
    """model_info latencies in ms, from a child interpreter calling it every PROBE_INTERVAL for `seconds`."""
    command = [sys.executable, "-c", _PROBE_SCRIPT, server.url, server.token, repo, str(seconds), str(PROBE_INTERVAL)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the model_info probe failed:\n{done.stderr[-2000:]}")
    return [latency * 1000 for latency in json.loads(done.stdout.strip().splitlines()[-1])]


def measure_load(server: ModelyardServer, kind: str, repo: str, baseline_kib: int, args: argparse.Namespace) -> Load:
    port = int(server.url.rsplit(":", 1)[1])
    path = f"/{repo}/resolve/main/{FILENAME}"
    probe_command = [
        sys.executable, "-c", _PROBE_SCRIPT, server.url, server.token, repo, str(args.seconds - 4), str(PROBE_INTERVAL)
    ]  # fmt: skip
    with RssSampler(server.pid, interval=0.1) as sampler:
        # Started once every client is connected and reading, and done before they stop.
        probe: list[subprocess.Popen[str]] = []

        def start_probe() -> None:
            probe.append(subprocess.Popen(probe_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

        results = asyncio.run(slow_clients(port, path, args, start_probe))
        out, err = probe[0].communicate(timeout=args.seconds + 120)
    if probe[0].returncode != 0:
        raise RuntimeError(f"the model_info probe failed:\n{err[-2000:]}")
    latencies = [latency * 1000 for latency in json.loads(out.strip().splitlines()[-1])]
    received = [r for r in results if isinstance(r, int)]
    failures = [r for r in results if isinstance(r, str)]
    peak_mib = max(sampler.samples) / 1024
    return Load(kind, peak_mib - baseline_kib / 1024, peak_mib, received or [0], failures, latencies)


async def slow_clients(port: int, path: str, args: argparse.Namespace, when_reading: object) -> list[int | str]:
    rate = args.rate_kb * 1000
    deadline = time.monotonic() + args.seconds
    tasks = []
    for _ in range(args.clients):
        tasks.append(asyncio.create_task(slow_client(port, path, rate, deadline)))
        await asyncio.sleep(1.0 / args.clients)  # connections spread over the first second
    await asyncio.sleep(1.0)
    when_reading()  # type: ignore[operator]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, int | str) else f"{type(r).__name__}: {r}" for r in results]


async def slow_client(port: int, path: str, rate: float, deadline: float) -> int | str:
    """Read the body at `rate` bytes/s until `deadline`; the body bytes received, or what went wrong."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=READ_SIZE * 4)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return f"answered {head.splitlines()[0].decode(errors='replace')}"
        started, received = time.monotonic(), 0
        while time.monotonic() < deadline:
            data = await reader.read(READ_SIZE)
            if not data:
                return f"connection closed after {received} bytes"
            received += len(data)
            ahead = started + received / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(min(ahead, max(deadline - time.monotonic(), 0)))
        return received
    finally:
        writer.close()


def percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def summarize(loads: list[Load], idle: list[float], args: argparse.Namespace) -> None:
    print("\n=== Summary ===")
    print(f"model_info on the idle server: p50 {percentile(idle, 50):.1f} ms, p95 {percentile(idle, 95):.1f} ms")
    for load in loads:
        per_client = load.growth_mib / args.clients
        p50, p95 = percentile(load.latencies_ms, 50), percentile(load.latencies_ms, 95)
        rate = statistics.median(load.received) / args.seconds / 1000
        print(f"{load.kind} file, {args.clients} clients (median {rate:.0f} KB/s each, {len(load.failures)} failed):")
        print(
            f"  server RSS growth {load.growth_mb:.1f} MB ({per_client:.2f} MiB per client); "
            f"goal < {MEMORY_GOAL_MB} MB: {verdict(load.growth_mb < MEMORY_GOAL_MB)} "
            f"({load.growth_mb / MEMORY_GOAL_MB:.2f}x the limit)"
        )
        print(
            f"  model_info p50 {p50:.1f} ms, p95 {p95:.1f} ms ({len(load.latencies_ms)} calls; idle p95 "
            f"{percentile(idle, 95):.1f} ms); goal p95 < {LATENCY_GOAL_MS} ms: {verdict(p95 < LATENCY_GOAL_MS)} "
            f"({p95 / LATENCY_GOAL_MS:.2f}x the limit)"
        )


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
