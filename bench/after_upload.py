"""Downloads right after an upload, while background work (the LFS -> Xet copy) runs, against nginx and against
the same server idle.

Goal (issue 9): an LFS download that starts within 5 s after a 1 GB upload completed reaches at least 0.8x nginx
serving the same file, and the server's memory (its processes and their children, the background worker included)
grows by less than 100 MB.

    .venv/bin/python bench/after_upload.py [--size-mb 1024] [--rounds 3]

Each round writes a fresh random file (so the server really has a new object to convert), uploads it through LFS
with huggingface_hub, and at once downloads it with curl from Modelyard and from nginx (the order alternates between
rounds). Memory is sampled every 50 ms from right after the upload until those downloads end. Then it waits for the
server to go idle and downloads once more from each: the same server without background work. It prints the
figures and PASS/FAIL, and exits 0 whatever they are: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    CurlResult,
    RssSampler,
    bench_workdir,
    curl_download,
    load_warning,
    machine_description,
    median,
    modelyard_serving,
    nginx_serving,
    process_tree,
    source_revision,
    step,
    upload_with_huggingface_hub,
    wait_until_idle,
    write_random_file,
)

THROUGHPUT_GOAL = 0.8
MEMORY_GOAL_MB = 100
WINDOW_SECONDS = 5
FILENAME = "weights.bin"


@dataclass
class Round:
    eager: dict[str, float]  # MiB/s right after the upload, per server
    idle: dict[str, float]  # MiB/s once the server is idle again
    start_delay: float  # seconds from the end of the upload to the start of Modelyard's download
    growth_mb: float  # server tree RSS: peak during the downloads minus right after the upload
    worker_growth_mb: float  # of which: the background worker's own growth
    conversion_mb: float  # the worker's peak over the whole conversion, above its RSS before it


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (default 1024 = 1 GiB)")
    parser.add_argument("--rounds", type=int, default=3, help="uploads (default 3)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print(f"Machine: {machine_description()}")
    print(f"Code: {source_revision()}")
    print(load_warning())
    try:
        with bench_workdir("modelyard-bench-after-upload-") as work:
            rounds = run(work, args.size_mb * MIB, args.rounds)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temp dir removed", file=sys.stderr)
        return 130
    summarize(rounds)
    print(load_warning())
    return 0


def run(work: Path, size: int, count: int) -> list[Round]:
    work.chmod(0o755)
    www = work / "www"
    www.mkdir(mode=0o755)
    source = www / FILENAME
    single_put = {"MODELYARD_LFS_MULTIPART_CHUNK_SIZE": str(size + MIB)}  # one PUT: the uploads are not measured
    rounds: list[Round] = []
    with nginx_serving(www, work) as nginx, modelyard_serving(work, extra_env=single_put) as server:
        for number in range(1, count + 1):
            step(f"round {number}: writing {size / MIB:.0f} MiB of fresh random bytes and uploading them through LFS")
            write_random_file(source, size)
            source.chmod(0o644)
            repo = f"{server.user}/after-upload-{number}"
            urls = {"nginx": f"{nginx.url}/{FILENAME}", "modelyard": f"{server.url}/{repo}/resolve/main/{FILENAME}"}
            order = ["modelyard", "nginx"] if number % 2 else ["nginx", "modelyard"]
            upload_with_huggingface_hub(server, repo, source, FILENAME)
            uploaded = time.monotonic()
            eager: dict[str, float] = {}
            start_delay = 0.0
            with RssSampler(server.pid, interval=0.05) as memory, WorkerMemory(server.pid) as worker:
                for name in order:
                    if name == "modelyard":
                        start_delay = time.monotonic() - uploaded
                    eager[name] = check(curl_download(urls[name]), size, urls[name]).mib_per_s
            growth_mb = (memory.peak_mib - memory.baseline_mib) * MIB / 1e6
            print(
                f"  right after the upload: Modelyard {eager['modelyard']:.0f} MiB/s (started {start_delay:.1f}s after "
                f"the upload), nginx {eager['nginx']:.0f} MiB/s; server RSS growth {growth_mb:.0f} MB "
                f"(of which the worker {worker.growth_mb:.0f} MB)"
            )
            with WorkerMemory(server.pid) as conversion:  # the rest of the background work, to its end
                waited = wait_until_idle(server.pid)
            print(f"  idle after {waited:.0f}s" if waited is not None else "  WARNING: still busy after 300s")
            conversion_mb = max(worker.peak_mb, conversion.peak_mb) - worker.baseline_mb
            print(f"  the worker's RSS over the whole conversion: up to {conversion_mb:.0f} MB over its idle size")
            idle = {name: check(curl_download(urls[name]), size, urls[name]).mib_per_s for name in order}
            print(f"  idle: Modelyard {idle['modelyard']:.0f} MiB/s, nginx {idle['nginx']:.0f} MiB/s")
            rounds.append(Round(eager, idle, start_delay, growth_mb, worker.growth_mb, conversion_mb))
    return rounds


class WorkerMemory:
    """The RSS growth of the server's background worker processes (children running `modelyard worker`)."""

    def __init__(self, server_pid: int) -> None:
        self.workers = [pid for pid in process_tree(server_pid) if _is_worker(pid)]
        self.samplers = [RssSampler(pid, interval=0.05) for pid in self.workers]

    def __enter__(self) -> WorkerMemory:
        for sampler in self.samplers:
            sampler.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for sampler in self.samplers:
            sampler.__exit__(*exc)

    @property
    def growth_mb(self) -> float:
        return sum(sampler.growth_mib for sampler in self.samplers) * MIB / 1e6

    @property
    def peak_mb(self) -> float:
        return sum(sampler.peak_mib for sampler in self.samplers) * MIB / 1e6

    @property
    def baseline_mb(self) -> float:
        return sum(sampler.baseline_mib for sampler in self.samplers) * MIB / 1e6


def _is_worker(pid: int) -> bool:
    try:
        return "worker" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return False


def check(result: CurlResult, size: int, url: str) -> CurlResult:
    if result.status != 200 or result.size != size:
        raise RuntimeError(f"{url}: HTTP {result.status}, {result.size:,} bytes (expected 200 and {size:,})")
    return result


def summarize(rounds: list[Round]) -> None:
    eager_ratio = [r.eager["modelyard"] / r.eager["nginx"] for r in rounds]
    idle_ratio = [r.idle["modelyard"] / r.idle["nginx"] for r in rounds]
    versus_idle = [r.eager["modelyard"] / r.idle["modelyard"] for r in rounds]
    growth = max(r.growth_mb for r in rounds)
    print("\n=== Summary ===")
    columns = {"after upload": 14, "idle": 8, "after/idle": 12, "start s": 9, "RSS +MB": 9, "worker +MB": 11}
    print(f"{'round':<7}" + "".join(f"{name:>{width}}" for name, width in columns.items()) + f"{'conversion +MB':>16}")
    for number, r in enumerate(rounds, 1):
        print(
            f"{number:<7}{eager_ratio[number - 1]:>14.2f}{idle_ratio[number - 1]:>8.2f}{versus_idle[number - 1]:>12.2f}"
            f"{r.start_delay:>9.1f}{r.growth_mb:>9.0f}{r.worker_growth_mb:>11.0f}{r.conversion_mb:>16.0f}"
        )
    print("(ratios: Modelyard / nginx, except after/idle: Modelyard right after the upload / Modelyard idle;")
    print(" RSS +MB: the server and its children during the downloads, worker +MB: the worker's part of it;")
    print(" conversion +MB: the worker's peak over the whole conversion, downloads or not)")
    within = all(r.start_delay <= WINDOW_SECONDS for r in rounds)
    print(f"Downloads started within {WINDOW_SECONDS}s of the upload's end: {'yes' if within else 'NO'}")
    ratio = median(eager_ratio)
    passed = verdict(ratio >= THROUGHPUT_GOAL)
    print(f"Median ratio right after the upload: {ratio:.2f}; goal >= {THROUGHPUT_GOAL}: {passed}")
    print(f"Median ratio Modelyard right after the upload / idle: {median(versus_idle):.2f} (issue 9: >= 0.9)")
    print(f"Largest server RSS growth (processes and children): {growth:.0f} MB; goal < {MEMORY_GOAL_MB} MB: "
          f"{verdict(growth < MEMORY_GOAL_MB)}")  # fmt: skip


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
