"""Plain-HTTP download of a file stored only as Xet, against nginx; and hf_xet against the same client's plain HTTP.

Goals (issue 9):
- a plain GET (curl) of a Xet-only 1 GiB file, the first request after its upload, reaches at least 0.5x nginx
  (sendfile on) serving the same bytes in the same run;
- huggingface_hub's download of that file through hf_xet is at least as fast as the same client's plain-HTTP
  download of it (`HF_HUB_DISABLE_XET=1`).

    .venv/bin/python bench/xet_plain_download.py [--size-mb 1024] [--rounds 3] [--copies on|off] [--profile out.txt]

The file is uploaded with huggingface_hub through hf_xet (cold hf_xet cache), so the server holds it only as
xorbs, plus (`--copies on`, the default) the plain copy the commit keeps (services/xet_copies.py); `--copies off`
measures the reconstruction from the xorbs alone. The first curl download after the upload is timed on its own,
against the mean of one nginx download just before and one just after it; then curl rounds alternate between
nginx and Modelyard. The hf_hub_download rounds alternate Xet on and off, each in a fresh child interpreter with an
empty cache (hf_xet's included) and its own `local_dir`; the time is the `hf_hub_download` call alone (the import
and interpreter start are left out). With `--profile`, one more Modelyard curl download runs under py-spy (the
server's processes, native frames off), and the collapsed stacks' self time is summarized into the given file.

It prints the figures and PASS/FAIL per goal, and exits 0 whatever they are: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    CurlResult,
    ModelyardServer,
    RssSampler,
    bench_workdir,
    curl_download,
    load_warning,
    machine_description,
    median,
    modelyard_serving,
    nginx_serving,
    served_random_file,
    sha256_of,
    source_revision,
    step,
    upload_with_huggingface_hub,
)

PLAIN_GOAL = 0.5  # Modelyard's plain download of a Xet-only file / nginx
XET_GOAL = 1.0  # hf_xet download / the same client's plain-HTTP download
REPO_ID = "bench/xet-only"
FILENAME = "big.bin"

_DOWNLOAD_SCRIPT = """
import sys, time
from huggingface_hub import hf_hub_download

endpoint, token, repo_id, filename, local_dir = sys.argv[1:]
started = time.perf_counter()
path = hf_hub_download(repo_id, filename, endpoint=endpoint, token=token, local_dir=local_dir)
print(time.perf_counter() - started)
print(path)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (default 1024 = 1 GiB)")
    parser.add_argument("--rounds", type=int, default=3, help="timed downloads per server and client (default 3)")
    parser.add_argument(
        "--copies", choices=("on", "off"), default="on", help="plain copies of Xet files (default on, as served)"
    )
    parser.add_argument("--profile", type=Path, help="profile one more Modelyard download with py-spy into this file")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    size = args.size_mb * MIB

    print(f"Machine: {machine_description()}")
    print(f"Code: {source_revision()}")
    print(load_warning())
    print(f"File: {size:,} bytes of random data, uploaded through hf_xet; {args.rounds} alternating rounds each")
    print(f"Plain copies of Xet files: {args.copies}")
    try:
        with bench_workdir("modelyard-bench-xet-plain-") as work:
            run(work, size, args)
    except KeyboardInterrupt:
        print("interrupted; servers stopped and temp files removed")
        return 130
    print(load_warning())
    return 0


def run(work: Path, size: int, args: argparse.Namespace) -> None:
    www, source, sha = served_random_file(work, FILENAME, size)
    env = {} if args.copies == "on" else {"MODELYARD_XET_PLAIN_COPIES_BYTES": "0"}
    with nginx_serving(www, work) as nginx, modelyard_serving(work, extra_env=env) as server:
        step("uploading through hf_xet (stock huggingface_hub)")
        started = time.perf_counter()
        upload_with_huggingface_hub(server, REPO_ID, source, FILENAME, xet=True)
        print(f"  upload_file: {time.perf_counter() - started:.1f} s")
        url = f"{server.url}/{REPO_ID}/resolve/main/{FILENAME}"
        auth = {"Authorization": f"Bearer {server.token}"}
        check_xet_only(url, auth, size)
        print_storage(server.data_dir)

        step("first plain download after the upload, between two nginx downloads")
        before = checked(curl_download(f"{nginx.url}/{FILENAME}"), size).mib_per_s
        with RssSampler(server.pid) as memory:
            first = checked(curl_download(url, auth, ("-L",)), size)
        after = checked(curl_download(f"{nginx.url}/{FILENAME}"), size).mib_per_s
        nginx_first = (before + after) / 2
        print(f"  nginx {before:.0f} MiB/s, Modelyard {first.mib_per_s:.0f} MiB/s, nginx {after:.0f} MiB/s")
        print(f"  server RSS growth during it: {memory.growth_mib:.1f} MiB")

        step(f"{args.rounds} alternating curl rounds")
        ours, theirs = [first.mib_per_s], [before, after]
        for index in range(args.rounds):
            theirs.append(checked(curl_download(f"{nginx.url}/{FILENAME}"), size).mib_per_s)
            ours.append(checked(curl_download(url, auth, ("-L",)), size).mib_per_s)
            print(f"  round {index + 1}: nginx {theirs[-1]:.0f} MiB/s, Modelyard {ours[-1]:.0f} MiB/s")
        check_bytes(url, auth, sha)

        step(f"{args.rounds} alternating hf_hub_download rounds, hf_xet and plain HTTP")
        with_xet, without_xet = [], []
        for index in range(args.rounds):
            with_xet.append(client_download(server, work, sha, xet=True))
            without_xet.append(client_download(server, work, sha, xet=False))
            print(
                f"  round {index + 1}: hf_xet {size / MIB / with_xet[-1]:.0f} MiB/s, "
                f"plain {size / MIB / without_xet[-1]:.0f} MiB/s"
            )

        if args.profile:
            profile(server, url, auth, size, args.profile)

    report(first, nginx_first, ours, theirs, with_xet, without_xet, size)


def print_storage(data_dir: Path) -> None:
    """What the file costs on disk: its xorbs, and its plain copy."""
    for label, folder in (("xorbs", "xet/xorbs"), ("plain copies", "xet/plain")):
        total = sum(path.stat().st_size for path in (data_dir / folder).rglob("*") if path.is_file())
        print(f"  stored {label}: {total / MIB:,.1f} MiB")


def check_xet_only(url: str, auth: dict[str, str], size: int) -> None:
    """The upload must have left the file as Xet only: resolve advertises a Xet hash and no LFS blob exists."""
    head = httpx.head(url, headers=auth, follow_redirects=False)
    if head.status_code not in (200, 302) or "x-xet-hash" not in head.headers:
        raise RuntimeError(f"the upload is not served as Xet: {head.status_code} {dict(head.headers)}")
    if int(head.headers.get("x-linked-size", size)) != size:
        raise RuntimeError(f"resolve announces {head.headers.get('x-linked-size')} bytes, not {size}")


def checked(result: CurlResult, size: int) -> CurlResult:
    if result.status != 200 or result.size != size:
        raise RuntimeError(f"download answered {result.status} with {result.size} bytes, not 200 with {size}")
    return result


def check_bytes(url: str, auth: dict[str, str], sha: str) -> None:
    """One untimed download, hashed: the plain bytes must be the uploaded ones."""
    digest = hashlib.sha256()
    with httpx.stream("GET", url, headers=auth, follow_redirects=True, timeout=120) as response:
        for block in response.iter_bytes(4 * MIB):
            digest.update(block)
    if digest.hexdigest() != sha:
        raise RuntimeError(f"the plain download hashes to {digest.hexdigest()}, not {sha}")
    print("  bytes checked: the plain download has the uploaded sha256")


def client_download(server: ModelyardServer, work: Path, sha: str, *, xet: bool) -> float:
    """Seconds one `hf_hub_download` takes, in a child interpreter with empty caches; the bytes are checked."""
    home = work / ("client-xet" if xet else "client-plain")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_HUB_DISABLE_XET": "0" if xet else "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_XET_TELEMETRY_ENABLED": "false",
    }
    args = [server.url, server.token, REPO_ID, FILENAME, str(home / "out")]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _DOWNLOAD_SCRIPT, *args], env=env, capture_output=True, text=True, check=True
        )
        seconds_line, path_line = done.stdout.strip().splitlines()[-2:]
        if sha256_of(Path(path_line)) != sha:
            raise RuntimeError(f"hf_hub_download (xet={xet}) wrote other bytes than the uploaded ones")
        return float(seconds_line)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"hf_hub_download (xet={xet}) failed:\n{error.stdout}{error.stderr}") from None
    finally:
        shutil.rmtree(home, ignore_errors=True)


def profile(server: ModelyardServer, url: str, auth: dict[str, str], size: int, out: Path) -> None:
    """One more Modelyard download under py-spy; the functions with the most self time, and the raw stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = out.with_suffix(".collapsed")
    step(f"profiling one Modelyard download with py-spy into {out}")
    command = [py_spy, "record", "--pid", str(server.pid), "--subprocesses", "--format", "raw", "-o", str(raw)]
    recorder = subprocess.Popen([*command, "--rate", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach
    result = checked(curl_download(url, auth, ("-L",)), size)
    time.sleep(0.5)
    recorder.send_signal(2)  # SIGINT: py-spy writes its output and exits
    recorder.wait(30)
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) < 2:
            continue
        own[frames[-1]] += int(count)
        total += int(count)
    lines = [f"download under the profiler: {result.mib_per_s:.0f} MiB/s; {total} samples (all threads)"]
    lines += [f"{100 * count / total:5.1f}%  {frame}" for frame, count in own.most_common(40)]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:16]))


def report(
    first: CurlResult,
    nginx_first: float,
    ours: list[float],
    theirs: list[float],
    with_xet: list[float],
    without_xet: list[float],
    size: int,
) -> None:
    print()
    print("Results")
    first_ratio = first.mib_per_s / nginx_first
    ratio = median(ours) / median(theirs)
    verdict = "PASS" if first_ratio >= PLAIN_GOAL else "FAIL"
    print(
        f"  first plain download after the upload: {first.mib_per_s:.0f} MiB/s vs nginx {nginx_first:.0f}"
        f" MiB/s = {first_ratio:.2f}x (goal >= {PLAIN_GOAL}x): {verdict}"
    )
    print(
        f"  all curl rounds, median: Modelyard {median(ours):.0f} MiB/s vs nginx {median(theirs):.0f} MiB/s"
        f" = {ratio:.2f}x (runs: {', '.join(f'{v:.0f}' for v in ours)} / {', '.join(f'{v:.0f}' for v in theirs)})"
    )
    xet_rate, plain_rate = size / MIB / median(with_xet), size / MIB / median(without_xet)
    xet_ratio = xet_rate / plain_rate
    verdict = "PASS" if xet_ratio >= XET_GOAL else "FAIL"
    print(
        f"  hf_hub_download, median: hf_xet {xet_rate:.0f} MiB/s ({median(with_xet):.2f} s) vs plain HTTP"
        f" {plain_rate:.0f} MiB/s ({median(without_xet):.2f} s) = {xet_ratio:.2f}x (goal >= {XET_GOAL}x): {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
