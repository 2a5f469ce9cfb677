"""Uploads of a large file with the stock client, against nginx storing the same bytes through WebDAV PUT (issue 9).

The reference is what a client that must hash the file first could do at best on this disk: `curl -T` of the file
to nginx's WebDAV PUT (body to a temp file on the same disk, renamed into place) plus the time Python's hashlib
takes to sha256 the file once (huggingface_hub computes the file's sha256 before it uploads anything). Modelyard is
timed for the whole `HfApi.upload_file` call in a fresh interpreter, client start included:

- LFS: `HF_HUB_DISABLE_XET=1`, multipart at the server's default part size (64 MiB), then the commit;
- Xet: hf_xet with a cold cache and its global-dedup queries off (no dedup), then the commit, whose
  verification of the file's claimed sha256 (`services/xet.verify_claims`) is part of the call.

    .venv/bin/python bench/upload_throughput.py [--size-mb 1024] [--rounds 3] [--paths LFS,Xet] [--profile-dir DIR]

Each round changes a few bytes in every 32 MiB of the file, so that every upload sends and stores new content (new
sha256, new xorbs), and runs the three uploads in a rotating order. The server's LFS -> Xet conversion is switched
off: it is background work after the upload, measured elsewhere. With `--profile-dir`, one more upload per path
runs under py-spy (sampling the server process), and the busiest functions are printed; the raw stacks stay in DIR.

It prints the figures and exits 0: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    ModelyardServer,
    bench_workdir,
    cpu_seconds,
    load_warning,
    machine_description,
    median,
    modelyard_serving,
    nginx_serving,
    sha256_of,
    source_revision,
    step,
    upload_with_huggingface_hub,
    wait_until_idle,
    webdav_put_location,
    write_random_file,
)

GOAL = 0.7
REFRESH_EVERY = 32 * MIB
SERVER_ENV = {"MODELYARD_XET_CONVERT_LFS": "false"}
NO_DEDUP_ENV = {"HF_XET_DEDUPLICATION_GLOBAL_DEDUP_QUERY_ENABLED": "false"}


def refresh(path: Path, size: int) -> str:
    """Overwrite 4 KiB in every 32 MiB of the file with new random bytes; its new sha256."""
    with path.open("r+b") as file:
        for offset in range(0, size, REFRESH_EVERY):
            file.seek(offset + min(REFRESH_EVERY, size - offset) // 2)
            file.write(os.urandom(4096))
    return sha256_of(path)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def reference_put(url: str, source: Path) -> float:
    """Seconds for `curl -T` of the file to nginx, curl's start included."""

    def put() -> None:
        command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(source), url]
        status = subprocess.run(command, capture_output=True, text=True).stdout
        if status not in ("201", "204"):
            raise RuntimeError(f"nginx answered {status!r} to the PUT of {url}")

    return timed(put)


class Uploads:
    """Uploads to one Modelyard server: one new repository per upload, the stored sha256 checked after each."""

    def __init__(self, server: ModelyardServer, workdir: Path) -> None:
        from huggingface_hub import HfApi

        self.server = server
        self.workdir = workdir
        self.api = HfApi(endpoint=server.url, token=server.token)
        self.count = 0
        self.cpu: dict[str, list[float]] = collections.defaultdict(list)

    def upload(self, path: str, source: Path, sha256: str) -> float:
        self.count += 1
        repo_id = f"{self.server.user}/{path.lower()}-{self.count}"
        self.api.create_repo(repo_id)
        xet = path == "Xet"
        cache = self.workdir / f"xet-cache-{self.count}"
        cpu_before = cpu_seconds(self.server.pid)
        seconds = timed(
            lambda: upload_with_huggingface_hub(
                self.server,
                repo_id,
                source,
                "big.bin",
                create_repo=False,
                xet=xet,
                xet_cache=cache,
                extra_env=NO_DEDUP_ENV,
            )
        )
        self.cpu[path].append(cpu_seconds(self.server.pid) - cpu_before)
        (info,) = self.api.get_paths_info(repo_id, ["big.bin"])
        if info.lfs is None or info.lfs.sha256 != sha256:
            raise RuntimeError(f"{path} upload stored {info.lfs} for big.bin, not sha256 {sha256}")
        return seconds


def profile_upload(uploads: Uploads, path: str, source: Path, sha256: str, out: Path) -> Path:
    """One more upload with py-spy sampling the server (native frames too); the raw (collapsed) stacks file."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        py_spy = Path(shutil.which("py-spy") or py_spy)  # a py-spy of its own (it is one static binary)
    if not py_spy.exists():
        sys.exit("--profile-dir needs py-spy, in the venv (`.venv/bin/pip install py-spy`) or on PATH")
    stacks = out / f"{path.lower()}.txt"
    command = [str(py_spy), "record", "--pid", str(uploads.server.pid), "--rate", "200", "--format", "raw", "--native"]
    recorder = subprocess.Popen([*command, "--output", str(stacks)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    try:
        seconds = uploads.upload(path, source, sha256)
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(60)
    print(f"  {path}: {seconds:.2f} s under py-spy; stacks in {stacks}")
    return stacks


# Threads waiting for work or for the network; SimpleQueue_get: the event loop's executor threads between jobs.
IDLE_FRAMES = ("Condition.wait", "epoll_wait", "epoll_pwait", "Server._serve", "Server.main_loop", "SimpleQueue_get")


def _frame_name(frame: str) -> str:
    """`function (file.py:line)` -> `function (file.py)`."""
    function, _, where = frame.partition(" (")
    return f"{function} ({where.rsplit('/', 1)[-1].split(':', 1)[0].rstrip(')')})"


def summarize_profile(stacks: Path, top: int = 15) -> None:
    """Where the server's busy threads were: the innermost Python function of each sample (what it was doing in
    native code below it, e.g. hashing or writing, is counted to it), and the native function on top. Samples of
    idle threads (waiting for work or for the network) are left out."""
    by_python: collections.Counter[str] = collections.Counter()
    by_native: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in stacks.read_text().splitlines():
        frames_text, _, count_text = line.rpartition(" ")
        if not frames_text or not count_text.isdigit() or any(idle in frames_text for idle in IDLE_FRAMES):
            continue
        frames = frames_text.split(";")
        count = int(count_text)
        samples += count
        python = [frame for frame in frames if ".py:" in frame]
        by_python[_frame_name(python[-1]) if python else "(no Python frame)"] += count
        by_native[_frame_name(frames[-1])] += count
    if not samples:
        print("    (no busy samples)")
        return
    print(f"    {samples} busy samples ({samples / 200:.1f} CPU-seconds at 200 Hz); innermost Python function:")
    for name, count in by_python.most_common(top):
        print(f"      {100 * count / samples:5.1f}%  {name}")
    print("    innermost function (native code included):")
    for name, count in by_native.most_common(top):
        print(f"      {100 * count / samples:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile-dir", type=Path, help="also profile one upload per path with py-spy, into DIR")
    parser.add_argument("--paths", default="LFS,Xet", help="the upload paths to time, of LFS,Xet (default: both)")
    args = parser.parse_args()
    size = args.size_mb * MIB
    print(f"Machine: {machine_description()}\n{load_warning()}\nCode: {source_revision()}")

    with bench_workdir("modelyard-upload-bench-") as workdir:
        workdir.chmod(0o755)
        www = workdir / "www"
        (www / "dav").mkdir(parents=True)
        (www / "dav").chmod(0o777)  # nginx's workers (`nobody` when we are root) store the PUT bodies here
        source = workdir / "big.bin"
        step(f"writing {args.size_mb} MiB of random bytes")
        write_random_file(source, size)
        with (
            nginx_serving(www, workdir, extra_server_config=webdav_put_location("/dav/")) as nginx,
            modelyard_serving(workdir, extra_env=SERVER_ENV) as server,
        ):
            uploads = Uploads(server, workdir)
            times: dict[str, list[float]] = collections.defaultdict(list)
            measured = [path for path in ("LFS", "Xet") if path in args.paths.split(",")]
            paths = ["reference", *measured]
            for number in range(1, args.rounds + 1):
                sha256 = refresh(source, size)
                order = paths[number % len(paths) :] + paths[: number % len(paths)]
                step(f"round {number}/{args.rounds}: {', '.join(order)}")
                for path in order:
                    wait_until_idle(server.pid, timeout=60)
                    if path == "reference":
                        put = reference_put(f"{nginx.url}/dav/round-{number}.bin", source)
                        hashing = timed(lambda: sha256_of(source))
                        (www / "dav" / f"round-{number}.bin").unlink()
                        times["curl -T"].append(put)
                        times["hashlib"].append(hashing)
                        times["reference"].append(put + hashing)
                        print(f"  reference: curl -T {put:.2f} s + sha256 {hashing:.2f} s = {put + hashing:.2f} s")
                    else:
                        seconds = uploads.upload(path, source, sha256)
                        times[path].append(seconds)
                        cpu = uploads.cpu[path][-1]
                        print(f"  {path}: {seconds:.2f} s ({size / MIB / seconds:.0f} MiB/s), server CPU {cpu:.2f} s")
            print(f"\n{load_warning()}")
            report(times, uploads.cpu, size, measured)
            if args.profile_dir:
                args.profile_dir.mkdir(parents=True, exist_ok=True)
                step("profiling one more upload per path (py-spy on the server)")
                for path in measured:
                    sha256 = refresh(source, size)
                    wait_until_idle(server.pid, timeout=60)
                    summarize_profile(profile_upload(uploads, path, source, sha256, args.profile_dir))


def report(times: dict[str, list[float]], cpu: dict[str, list[float]], size: int, paths: list[str]) -> None:
    reference = median(times["reference"])
    print(f"\nMedians over {len(times['reference'])} rounds ({size / MIB:.0f} MiB file):")
    for name in ("curl -T", "hashlib", "reference"):
        print(f"  {name:>9}: {median(times[name]):6.2f} s")
    for path in paths:
        seconds = median(times[path])
        ratio = reference / seconds
        verdict = "PASS" if ratio >= GOAL else "FAIL"
        rounds = ", ".join(f"{t:.2f}" for t in times[path])
        print(
            f"  {path:>9}: {seconds:6.2f} s (rounds {rounds}; server CPU median {median(cpu[path]):.2f} s) -> "
            f"{ratio:.2f}x the reference (goal >= {GOAL}x): {verdict}"
        )


if __name__ == "__main__":
    main()
