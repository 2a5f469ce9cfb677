"""What verifying a Xet upload's sha256 costs: the re-hash a commit does before a client's claim may back a pointer.

A shard's sha256 is a client claim; the first commit (or push, or download) that uses it reconstructs the file from
the stored xorbs and hashes it (`services/xet.verify_claims`). This bench uploads random files with the stock client
(huggingface_hub + hf_xet, Xet on) to a served Modelyard, then, in this process, times that same verification
(`xet_read.file_sha256` over the registered file) against a plain sha256 of the same bytes read from a file (the
reference: what hashing alone costs here), and against the whole `upload_file` call. Since issue 9 the commit's
pass also writes the file's plain copy (`xet_copies.hash_and_keep`, into the page cache): timed as well.

    .venv/bin/python bench/xet_verify.py [--sizes-mb 50 200 500]

It prints the figures and exits 0: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    bench_workdir,
    load_warning,
    machine_description,
    modelyard_serving,
    run_checked,
    sha256_of,
    source_revision,
    step,
    write_random_file,
)

_UPLOAD = """
import sys, time
from huggingface_hub import HfApi
endpoint, token, repo_id, path = sys.argv[1:]
api = HfApi(endpoint=endpoint, token=token)
api.create_repo(repo_id, exist_ok=True)
started = time.monotonic()
api.upload_file(path_or_fileobj=path, path_in_repo="file.bin", repo_id=repo_id)
print(time.monotonic() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[50, 200, 500])
    args = parser.parse_args()
    print(f"Machine: {machine_description()}\n{load_warning()}\nCode: {source_revision()}")

    from sqlalchemy import select

    from modelyard.config import Settings
    from modelyard.db.models import XetFile
    from modelyard.services import xet, xet_copies, xet_read
    from modelyard.services.hub import Hub

    rows = []
    with bench_workdir() as work, modelyard_serving(work) as server:
        hub = Hub.open(Settings(data_dir=server.data_dir), migrate=False)
        for size_mb in args.sizes_mb:
            path = work / f"{size_mb}.bin"
            step(f"writing {size_mb} MiB of random bytes")
            sha = write_random_file(path, size_mb * MIB)
            step("uploading it with huggingface_hub + hf_xet (the commit verifies the claim)")
            env = {**os.environ, "HF_HUB_DISABLE_XET": "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                   "HF_XET_CACHE": str(work / f"xet-cache-{size_mb}")}  # fmt: skip
            command = [sys.executable, "-c", _UPLOAD, server.url, server.token, f"{server.user}/f{size_mb}", str(path)]
            upload_seconds = float(run_checked(command, env=env).strip().splitlines()[-1])
            with hub.db.session() as session:
                file_hash = session.scalar(select(XetFile.hash).where(XetFile.verified_sha256 == sha))
            record = xet.load_file(hub, file_hash) if file_hash else None
            if record is None:
                sys.exit(f"the upload of {size_mb} MiB registered no verified Xet file for sha256 {sha}")
            step("timing the verification (reconstruct + sha256) and a plain sha256 of the file")
            started = time.monotonic()
            assert xet_read.file_sha256(hub, record) == sha
            verify_seconds = time.monotonic() - started
            started = time.monotonic()
            assert xet_copies.copies(hub).hash_and_keep(record, sha) == sha
            keep_seconds = time.monotonic() - started
            sha256_of(path)  # once to warm the page cache, as the xorbs are warm
            started = time.monotonic()
            sha256_of(path)
            plain_seconds = time.monotonic() - started
            rows.append((size_mb, upload_seconds, verify_seconds, keep_seconds, plain_seconds))
            path.unlink()

    header = f"{'size':>8} {'upload_file':>12} {'verify':>16} {'verify + copy':>16} {'plain sha256':>16}"
    print(f"\n{header} {'verify/upload':>14}")
    for size_mb, upload_seconds, verify_seconds, keep_seconds, plain_seconds in rows:
        mb = size_mb * MIB / 1e6
        print(
            f"{size_mb:>5} MiB {upload_seconds:>10.2f} s {verify_seconds:>6.2f} s {mb / verify_seconds:>5.0f} MB/s "
            f"{keep_seconds:>6.2f} s {mb / keep_seconds:>5.0f} MB/s "
            f"{plain_seconds:>6.2f} s {mb / plain_seconds:>5.0f} MB/s {verify_seconds / upload_seconds:>13.0%}"
        )


if __name__ == "__main__":
    main()
