"""A CAS inside the worker process, for hf_xet to upload LFS blobs to (the LFS -> Xet conversion).

The conversion goes through the CAS routes every client uses (xorbs and shards validated the same way, global
dedup included), but it must not cost the serving processes anything: hf_xet talks to this process's own copy of
the application over a Unix socket, so chunking, compression, xorb verification and shard registration all run
here, at the worker's priority.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from modelyard.services.hub import Hub
from modelyard.xet import CAS_PREFIX

# One xorb in flight at a time and one file read at a time: what the worker holds stays near one xorb being built,
# one being sent and one being verified (docs/performance.md, "Background work").
HF_XET_SETTINGS = {
    "telemetry.enabled": False,
    "client.retry_max_attempts": 3,
    "client.retry_base_delay": datetime.timedelta(seconds=1),
    "client.connect_timeout": datetime.timedelta(seconds=10),
    "client.enable_adaptive_concurrency": False,
    "client.ac_initial_upload_concurrency": 1,
    "client.ac_max_upload_concurrency": 1,
    "data.max_concurrent_file_ingestion": 1,
}


class LocalCas:
    """Started on first use, stopped by `close`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._directory: Path | None = None
        self._session: Any = None

    def upload(self, hf_xet: Any, path: Path, sha256: str, token: str, token_expiry: int) -> str:
        """Upload the file at `path` with hf_xet; the Xet file hash the CAS registered."""
        session = self._xet_session(hf_xet)
        # The host part is not used for the connection (the Unix socket is), only in the requests' Host header.
        endpoint = f"http://localhost{CAS_PREFIX}"
        with session.new_upload_commit(endpoint=endpoint, token=token, token_expiry_unix_secs=token_expiry) as commit:
            upload = commit.start_upload_file(str(path), sha256=sha256)
        return str(upload.result().xet_info.hash)

    def _xet_session(self, hf_xet: Any) -> Any:
        if self._session is None:
            socket_path = self._start()
            config = hf_xet.XetConfig().with_config({**HF_XET_SETTINGS, "client.unix_socket_path": str(socket_path)})
            self._session = hf_xet.XetSession(config)
        return self._session

    def _start(self) -> Path:
        from modelyard.app import create_app  # the front doors, in the worker only

        self._directory = Path(tempfile.mkdtemp(prefix="modelyard-worker-"))  # 0700: the socket is ours alone
        socket_path = self._directory / "cas.sock"
        config = uvicorn.Config(
            create_app(hub=self.hub), uds=str(socket_path), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="modelyard-local-cas", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the worker's local CAS did not start")
            time.sleep(0.02)
        return socket_path

    def close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
