"""Xet deduplication: a 200 MB file, then a copy with 1% of its bytes changed in the middle.

Goals (issue 3): the second upload adds at most 5% new stored bytes, and sends at most 10% of the file's size
over the wire. The copy goes to another repository, uploaded by a client with a cold hf_xet cache (as a second
machine would), so only the server's global-dedup answers can spare it the shared chunks.

    .venv/bin/python bench/xet_dedup.py [--size-mb 200] [--changed-percent 1]

Stored bytes come from Modelyard's own accounting (GET /api/storage). Bytes over the wire are counted by a TCP
proxy between the client and the server: every byte the client sends (requests to the hub API and to the Xet
CAS, headers included), and every byte it receives. Both uploads are then downloaded back (through Xet, and
with a plain HTTP GET) and compared by sha256. It prints the figures and PASS/FAIL per goal, and exits 0
whatever they are: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    bench_workdir,
    free_port,
    machine_description,
    modelyard_serving,
    run_checked,
    sha256_of,
    write_random_file,
)

STORED_GOAL = 0.05  # new stored bytes / file size, for the edited copy
WIRE_GOAL = 0.10  # bytes sent by the client / file size, for the edited copy

_UPLOAD = """
import sys
from huggingface_hub import HfApi
endpoint, token, repo_id, path, name = sys.argv[1:]
api = HfApi(endpoint=endpoint, token=token)
api.create_repo(repo_id, exist_ok=True)
print(api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo_id).oid)
"""

_DOWNLOAD = """
import sys
from huggingface_hub import hf_hub_download
endpoint, token, repo_id, name, cache = sys.argv[1:]
print(hf_hub_download(repo_id, name, endpoint=endpoint, token=token, cache_dir=cache))
"""


class CountingProxy:
    """A TCP relay on 127.0.0.1 that counts the bytes flowing each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.sent, self.received

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(1024 * 1024):
                target.sendall(data)
                with self._lock:
                    if upstream:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._listener.close()


@dataclass
class UploadFigures:
    label: str
    seconds: float
    sent: int
    received: int
    stored_added: int
    logical_added: int


def storage(url: str, token: str) -> dict:
    request = urllib.request.Request(f"{url}/api/storage", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


GLOBAL_DEDUP_QUERIES = True


def client_env(workdir: Path, name: str) -> dict[str, str]:
    """A stock huggingface_hub client with Xet on and a cold, private hf_xet cache."""
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_DISABLE_XET"}
    if not GLOBAL_DEDUP_QUERIES:
        env["HF_XET_DEDUPLICATION_GLOBAL_DEDUP_QUERY_ENABLED"] = "false"
    env.update(
        {
            "HF_HOME": str(workdir / f"hf-home-{name}"),
            "HF_XET_CACHE": str(workdir / f"xet-cache-{name}"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_XET_TELEMETRY_ENABLED": "false",
        }
    )
    return env


def upload(label: str, server, proxy: CountingProxy, workdir: Path, repo_id: str, path: Path) -> UploadFigures:
    before_stats = storage(server.url, server.token)
    before_sent, before_received = proxy.snapshot()
    started = time.perf_counter()
    env = client_env(workdir, label)
    run_checked([sys.executable, "-c", _UPLOAD, proxy.url, server.token, repo_id, str(path), path.name], env=env)
    seconds = time.perf_counter() - started
    time.sleep(0.5)  # let the proxy's relay threads count the last bytes
    sent, received = proxy.snapshot()
    after_stats = storage(server.url, server.token)
    return UploadFigures(
        label,
        seconds,
        sent - before_sent,
        received - before_received,
        after_stats["storedBytes"] - before_stats["storedBytes"],
        after_stats["logicalBytes"] - before_stats["logicalBytes"],
    )


def check_downloads(server, workdir: Path, repo_id: str, path: Path, expected: str) -> tuple[bool, bool]:
    """(through Xet, plain GET) both byte-identical?"""
    env = client_env(workdir, f"download-{repo_id.replace('/', '-')}")
    cache = workdir / f"download-cache-{repo_id.replace('/', '-')}"
    args = [sys.executable, "-c", _DOWNLOAD, server.url, server.token, repo_id, path.name, str(cache)]
    downloaded = Path(run_checked(args, env=env).strip().splitlines()[-1])
    through_xet = sha256_of(downloaded) == expected
    plain = workdir / "plain.bin"
    url = f"{server.url}/{repo_id}/resolve/main/{path.name}"
    with urllib.request.urlopen(url, timeout=600) as response, plain.open("wb") as out:
        while block := response.read(4 * MIB):
            out.write(block)
    plain_ok = sha256_of(plain) == expected
    plain.unlink()
    return through_xet, plain_ok


def edited_copy(source: Path, target: Path, percent: float) -> str:
    """`source` with `percent`% of its bytes, in the middle, replaced by random bytes; the copy's sha256."""
    data = bytearray(source.read_bytes())
    count = int(len(data) * percent / 100)
    start = (len(data) - count) // 2
    data[start : start + count] = os.urandom(count)
    target.write_bytes(data)
    return sha256_of(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="file size in MB of 10^6 bytes (default 200)")
    parser.add_argument("--changed-percent", type=float, default=1.0, help="bytes changed in the copy (default 1)")
    parser.add_argument(
        "--no-global-dedup",
        action="store_true",
        help="clients do not ask the server's global-dedup index (to see what it buys)",
    )
    args = parser.parse_args()
    global GLOBAL_DEDUP_QUERIES
    GLOBAL_DEDUP_QUERIES = not args.no_global_dedup
    size = args.size_mb * 1000 * 1000

    print(f"Machine: {machine_description()}")
    with bench_workdir("modelyard-xet-dedup-") as workdir, modelyard_serving(workdir) as server:
        proxy = CountingProxy(int(server.url.rsplit(":", 1)[1]))
        try:
            original = workdir / "original.bin"
            edited = workdir / "edited.bin"
            original_sha = write_random_file(original, size)
            edited_sha = edited_copy(original, edited, args.changed_percent)
            print(f"File: {size:,} random bytes; copy with {args.changed_percent}% changed in the middle")
            print(f"Client global-dedup queries: {'on' if GLOBAL_DEDUP_QUERIES else 'off'}; hf_xet caches: cold")

            first = upload("original", server, proxy, workdir, "bench/original", original)
            second = upload("edited-copy", server, proxy, workdir, "bench/edited-copy", edited)
            first_ok = check_downloads(server, workdir, "bench/original", original, original_sha)
            second_ok = check_downloads(server, workdir, "bench/edited-copy", edited, edited_sha)
            totals = storage(server.url, server.token)
        finally:
            proxy.close()

    print()
    print(
        f"{'upload':<14} {'seconds':>8} {'sent (MB)':>10} {'received (MB)':>14} {'stored +MB':>11} {'logical +MB':>12}"
    )
    for row in (first, second):
        print(
            f"{row.label:<14} {row.seconds:>8.1f} {row.sent / 1e6:>10.2f} {row.received / 1e6:>14.2f} "
            f"{row.stored_added / 1e6:>11.2f} {row.logical_added / 1e6:>12.2f}"
        )
    stored_ratio = second.stored_added / size
    wire_ratio = second.sent / size
    print()
    print(f"Edited copy: new stored bytes {stored_ratio:.2%} of its size (goal <= {STORED_GOAL:.0%}): "
          f"{'PASS' if stored_ratio <= STORED_GOAL else 'FAIL'}")  # fmt: skip
    print(f"Edited copy: bytes sent over the wire {wire_ratio:.2%} of its size (goal <= {WIRE_GOAL:.0%}): "
          f"{'PASS' if wire_ratio <= WIRE_GOAL else 'FAIL'}")  # fmt: skip
    print(f"Downloads byte-identical (Xet, plain GET): original {first_ok}, edited copy {second_ok}")
    print(
        f"Hub totals: logical {totals['logicalBytes'] / 1e6:.2f} MB, stored {totals['storedBytes'] / 1e6:.2f} MB, "
        f"dedup ratio {totals['dedupRatio']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
