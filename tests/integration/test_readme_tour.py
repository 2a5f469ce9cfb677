"""The README's "A 5-minute tour", run as written: its shell block, then its Python block, on a fresh directory.

The tour starts the hub with `make run` on its default embedded setup (SQLite and ./modelyard-data), so it runs
in a temp directory holding only the Makefile, pyproject.toml and the venv `make test` installed. The one change
made to the text is the port: 127.0.0.1:8000 becomes a free port (also given to `make run` as MODELYARD_PORT), so a
hub already running on this machine cannot answer in its place. Whatever the README's tour says must keep working,
or this test fails.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README_PORT = "127.0.0.1:8000"
TOUR_TIMEOUT_SECONDS = 300


def _tour_blocks() -> tuple[str, str]:
    """The tour's bash and Python code blocks, as the README shows them."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## A 5-minute tour", 1)[1].split("\n## ", 1)[0]
    bash = re.findall(r"```bash\n(.*?)```", section, re.S)
    python = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(bash) == 1 and len(python) == 1, "the tour should be one bash block and one python block"
    return bash[0], python[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(
    os.environ.get("MODELYARD_TEST_BACKEND", "sqlite") != "sqlite",
    reason="the tour runs the embedded default (SQLite); once per `make test` is enough",
)
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    bash, python = _tour_blocks()
    port = _free_port()
    # `make run` installs first when pyproject.toml is newer than the venv's stamp: do that here, in the real tree
    # (`make test` already has), so that the tour's `make run` finds the venv up to date.
    subprocess.run(["make", "-s", "install"], cwd=REPO_ROOT, check=True, env={**os.environ, "MAKEFLAGS": ""})
    for name in ("Makefile", "pyproject.toml", ".venv"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    script = "\n".join(
        [
            "set -euo pipefail",
            # `make run &` starts the hub in the background; stop it (and what it started) however the tour ends.
            "trap 'kill -- -$$ 2>/dev/null || true' EXIT",
            bash,
            ".venv/bin/python - <<'TOUR_PYTHON'",
            python,
            "TOUR_PYTHON",
        ]
    ).replace(README_PORT, f"127.0.0.1:{port}")
    # Hermetic: none of the test session's hub settings, tokens or caches.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "HF_", "HUGGING_FACE_"))}
    env |= {"MODELYARD_PORT": str(port), "HF_HOME": str(tmp_path / "hf-home"), "MAKEFLAGS": ""}

    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, which the trap (or we) can kill whole
    )
    try:
        output, _ = process.communicate(timeout=TOUR_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert process.returncode == 0, output
    lines = output.splitlines()
    assert any(line.split()[-1:] == ["alice"] for line in lines), output  # hf auth whoami
    assert "identical" in lines, output  # the download has the uploaded bytes
    assert "experiment" in output and "v1.0" in output, output  # list_repo_refs: the new branch and tag
    assert (tmp_path / "modelyard-data").is_dir()  # the tour's hub lived in its own fresh data dir
