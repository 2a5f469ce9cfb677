"""Running `git upload-pack` / `git receive-pack` for one HTTP request, streaming both ways.

The request body goes to the process's stdin as it arrives (gunzipped when git compressed it) while its stdout
goes to the client as it is produced: memory stays flat however large the pack. This is what
`git http-backend` does, minus CGI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import stat
import sys
import zlib
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import make_url
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modelyard.config import Settings
from modelyard.gitserve.hook import LOCK_FD_VARIABLE, REPO_PK_VARIABLE
from modelyard.gitstore.locks import LockHandle
from modelyard.private_files import PRIVATE_EXECUTABLE_MODE
from modelyard.services.access import Action

log = logging.getLogger("modelyard.git")

PIPE_READ_SIZE = 256 * 1024
STDERR_KEEP = 64 * 1024
HOOK_PYTHON_VARIABLE = "MODELYARD_HOOK_PYTHON"
_PROTOCOL_SAFE = re.compile(r"^[A-Za-z0-9=:._-]{1,200}$")
NO_CACHE = {
    "Cache-Control": "no-cache, max-age=0, must-revalidate",
    "Pragma": "no-cache",
    "Expires": "Fri, 01 Jan 1980 00:00:00 GMT",
}
HOOK_SCRIPT = f"""#!/bin/sh
# Written by Modelyard: holds every push to the hub's rules before any ref moves (modelyard.gitserve.hook).
exec "${{{HOOK_PYTHON_VARIABLE}:?this hook only runs under Modelyard}}" -m modelyard.gitserve.hook
"""


class GitService(StrEnum):
    UPLOAD_PACK = "git-upload-pack"  # clone, fetch
    RECEIVE_PACK = "git-receive-pack"  # push

    @property
    def action(self) -> Action:
        return Action.WRITE if self is GitService.RECEIVE_PACK else Action.DOWNLOAD

    @property
    def command(self) -> str:
        return self.value.removeprefix("git-")


def pkt_line(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


FLUSH_PKT = b"0000"


def protocol_header(value: str | None) -> str | None:
    """The client's `Git-Protocol` header, for GIT_PROTOCOL (protocol v2), if it is well-formed."""
    return value if value and _PROTOCOL_SAFE.match(value) else None


def is_protocol_v2(protocol: str | None) -> bool:
    return bool(protocol) and "version=2" in protocol.split(":")  # type: ignore[union-attr]


def ensure_hooks(settings: Settings) -> Path:
    """The hooks directory receive-pack runs with (`core.hooksPath`); written once, rewritten if changed."""
    directory = settings.data_dir.resolve() / "git-hooks"
    script = directory / "pre-receive"
    try:
        if script.read_text() == HOOK_SCRIPT and stat.S_IMODE(script.stat().st_mode) == PRIVATE_EXECUTABLE_MODE:
            return directory
    except OSError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".pre-receive.{os.getpid()}.tmp"
    temporary.write_text(HOOK_SCRIPT)
    temporary.chmod(PRIVATE_EXECUTABLE_MODE)  # the service user's only, like everything in the data dir
    os.replace(temporary, script)
    return directory


def _absolute_database_url(settings: Settings) -> str:
    """The database URL with a relative SQLite path made absolute: hooks run in the repository directory."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = url.database.removeprefix("file:")
        if not os.path.isabs(database):
            return url.set(database=os.path.abspath(database)).render_as_string(hide_password=False)
    return url.render_as_string(hide_password=False)


def hook_environment(settings: Settings, repo_pk: int, lock: LockHandle) -> dict[str, str]:
    """What the pre-receive hook needs to rebuild this hub: every setting as its MODELYARD_* variable, the
    repository, and the descriptor of the repository's writer lock that receive-pack inherits."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        env[f"MODELYARD_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    env["MODELYARD_DATA_DIR"] = str(settings.data_dir.resolve())
    env["MODELYARD_DATABASE_URL"] = _absolute_database_url(settings)
    env[REPO_PK_VARIABLE] = str(repo_pk)
    env[LOCK_FD_VARIABLE] = str(lock.fd)
    env[HOOK_PYTHON_VARIABLE] = sys.executable
    return env


def git_environment(protocol: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for git: no inherited GIT_* or MODELYARD_* variables, no user or system config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "MODELYARD_"))}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    if protocol:
        env["GIT_PROTOCOL"] = protocol
    env.update(extra or {})
    return env


def git_command(service: GitService, repo_path: Path, advertise: bool, hooks: Path | None = None) -> list[str]:
    config = ["-c", "uploadpack.allowFilter=true"]
    if service is GitService.RECEIVE_PACK:
        assert hooks is not None or advertise
        config += ["-c", "receive.fsckObjects=true", "-c", "receive.advertisePushOptions=false"]
        # Pushed objects and refs reach the disk before the push is acknowledged, as the API's commits do; and
        # no `gc --auto` is left running (detached, holding ref locks) once the writer lock is released.
        config += ["-c", "core.fsync=committed", "-c", "receive.autogc=false"]
        if hooks is not None:
            config += ["-c", f"core.hooksPath={hooks}"]
    args = ["--stateless-rpc", "--advertise-refs"] if advertise else ["--stateless-rpc"]
    return ["git", *config, service.command, *args, str(repo_path)]


class GitProcessResponse(Response):
    """Runs `argv`, feeding it the request body (unless `advertise`) and streaming its stdout as the body.

    `after(returncode)` runs once the process exited, before the response ends. `lock` is handed down to the
    process (and its hooks), and released and closed once the process and `after` are done.
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        media_type: str,
        prefix: bytes = b"",
        read_body: bool = True,
        after: Callable[[int], Awaitable[None]] | None = None,
        lock: LockHandle | None = None,
    ) -> None:
        self.argv = argv
        self.env = env
        self.prefix = prefix
        self.read_body = read_body
        self.after = after
        self.lock = lock
        self.status_code = 200
        self.background = None
        self.media_type = media_type
        self.init_headers(NO_CACHE)  # no body attribute: no Content-Length, the body is streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._run(scope, receive, send)
        finally:
            if self.lock is not None:
                self.lock.close()

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        gzipped = _content_encoding(scope) in ("gzip", "x-gzip")
        process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE if self.read_body else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            limit=PIPE_READ_SIZE,
            pass_fds=() if self.lock is None else (self.lock.fd,),
        )
        errors = bytearray()
        feeder = asyncio.create_task(self._feed(process, receive, gzipped)) if self.read_body else None
        drainer = asyncio.create_task(_drain(process.stderr, errors))
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if self.prefix:
                await send({"type": "http.response.body", "body": self.prefix, "more_body": True})
            assert process.stdout is not None
            while chunk := await process.stdout.read(PIPE_READ_SIZE):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            returncode = await process.wait()
            client_gone = await feeder if feeder is not None else False
            await drainer
            if returncode != 0:
                # A client that hung up mid-request is an everyday event, not a problem of the server.
                report = log.info if client_gone else log.warning
                report("%s exited with %s: %s", " ".join(self.argv[-3:]), returncode, _text(errors))
            if self.after is not None:
                await self.after(returncode)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            for task in (feeder, drainer):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _feed(self, process: asyncio.subprocess.Process, receive: Receive, gzipped: bool) -> bool:
        """Request body -> stdin. A client that goes away ends the process; returns whether it did."""
        stdin = process.stdin
        assert stdin is not None
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    return True
                body = message.get("body", b"")
                # Bounded steps, so that a small compressed body cannot inflate into memory all at once.
                while body:
                    if decompressor is None:
                        data, body = body, b""
                    else:
                        data = decompressor.decompress(body, PIPE_READ_SIZE)
                        body = decompressor.unconsumed_tail
                    stdin.write(data)
                    await stdin.drain()
                if not message.get("more_body", False):
                    break
            stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # git stopped reading: its output says why
        except zlib.error:
            log.warning("Invalid gzip request body for %s", " ".join(self.argv[-2:]))
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        return False


async def _drain(stream: asyncio.StreamReader | None, keep: bytearray) -> None:
    assert stream is not None
    while chunk := await stream.read(PIPE_READ_SIZE):
        if len(keep) < STDERR_KEEP:
            keep += chunk[: STDERR_KEEP - len(keep)]


def _content_encoding(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-encoding":
            return value.decode("latin-1").strip().lower()
    return ""


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode(errors="replace").strip()
