"""Shared pieces of the benchmarks: a throwaway nginx, a throwaway Modelyard server, memory sampling, uploads.

Each bench compares Modelyard against nginx serving the same bytes on 127.0.0.1 in the same run, so both
servers start from here and are stopped (with everything under the bench's temp dir) however the bench ends.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import platform
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


# --- small helpers -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `process` died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with status {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def write_random_file(path: Path, size: int, chunk: int = 16 * MIB) -> str:
    """Write `size` random bytes to `path`; return their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size
        while remaining:
            data = os.urandom(min(chunk, remaining))
            digest.update(data)
            out.write(data)
            remaining -= len(data)
    return digest.hexdigest()


def step(message: str) -> None:
    print(f"- {message} ...")


def served_random_file(work: Path, name: str, size: int) -> tuple[Path, Path, str]:
    """A random file in `work/www` that nginx's workers (`nobody` when we are root) may read.

    Returns (the www directory, the file, its sha256).
    """
    work.chmod(0o755)
    www = work / "www"
    www.mkdir(mode=0o755)
    source = www / name
    step(f"writing {size / MIB:.0f} MiB of random bytes")
    sha = write_random_file(source, size)
    source.chmod(0o644)
    return www, source, sha


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(16 * MIB):
            digest.update(block)
    return digest.hexdigest()


def machine_description() -> str:
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
        memory = f", {kib / MIB:.1f} GiB RAM"
    return f"{os.cpu_count()} CPUs ({model}){memory}, {platform.system()} {platform.release()}"


def load_warning() -> str:
    """A line on the machine's load: a busy machine (a test run beside the bench) skews every figure."""
    one, five, _ = os.getloadavg()
    line = f"Load average: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"
    if one > 0.5:
        line += " -- WARNING: other work is running; the figures will be noisy"
    return line


def run_checked(command: list[str], env: dict[str, str] | None = None) -> str:
    """Run `command`; its stdout, or a RuntimeError that carries its output when it fails."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} ... failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def source_revision() -> str:
    """The commit of the code under test, and whether the work tree differs from it."""
    try:
        commit = run_checked(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"]).strip()
        dirty = run_checked(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "src"]).strip()
    except (OSError, RuntimeError):
        return "unknown (not a git checkout)"
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process we started in its own session, and its children (its process group) with it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def bench_workdir(prefix: str = "modelyard-bench-") -> Iterator[Path]:
    """A temp dir removed at the end; SIGTERM and SIGHUP unwind like Ctrl-C so every `finally` runs."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- processes: CPU time, idleness, memory ---------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found.extend(int(child) for child in children.read().split())
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants that are alive now."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children(current))
    return tree


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by `pid` and its live descendants (from /proc/<pid>/stat)."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / _TICKS


def wait_until_idle(pid: int, timeout: float = 300.0, window: float = 1.0, busy_share: float = 0.05) -> float | None:
    """Wait until the process tree of `pid` uses under `busy_share` of a CPU over `window`; seconds waited.

    A server may still be working after an upload (hashing, background conversions): measuring then would
    charge that work to the download. None when it never settled within `timeout`.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < busy_share * window:
            return time.monotonic() - started
    return None


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, in KiB (0 for processes that are gone)."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


@dataclass
class RssSampler:
    """Samples the RSS of a process tree every `interval` seconds in a background thread (use as `with`)."""

    pid: int
    interval: float = 0.05
    samples: list[int] = field(default_factory=list)
    _stop_event: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self.samples.append(rss_kib(self.pid))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.samples.append(rss_kib(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(rss_kib(self.pid))

    @property
    def baseline_mib(self) -> float:
        return self.samples[0] / 1024

    @property
    def peak_mib(self) -> float:
        return max(self.samples) / 1024

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.baseline_mib


# --- curl --------------------------------------------------------------------------------------------------------


@dataclass
class CurlResult:
    status: int
    size: int
    seconds: float
    bytes_per_second: float

    @property
    def mib_per_s(self) -> float:
        return self.bytes_per_second / MIB


def curl_download(url: str, headers: dict[str, str] | None = None, extra_args: tuple[str, ...] = ()) -> CurlResult:
    """Download `url` to /dev/null with curl; curl's own view of status, size, time and average speed.

    Curl's exit status is not checked (`--max-time` ends with 28): callers judge status and size.
    """
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total} %{speed_download}"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, *extra_args, url], capture_output=True, text=True).stdout.split()
    return CurlResult(int(out[0]), int(out[1]), float(out[2]), float(out[3]))


# --- nginx -------------------------------------------------------------------------------------------------------


def find_nginx() -> str:
    """Debian's nginx; installed (nginx-light) when missing and we are root with apt-get, else a clear error."""
    for candidate in (*NGINX_CANDIDATES, shutil.which("nginx")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("nginx not found; installing Debian's nginx-light ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True, env=env)
        for candidate in NGINX_CANDIDATES:
            if os.access(candidate, os.X_OK):
                return candidate
    sys.exit("nginx is needed as the reference server: install it with `sudo apt-get install -y nginx-light`")


def _worker_user_directive() -> str:
    """As root, nginx drops its workers to an unprivileged user, who must be named with an existing group."""
    if os.geteuid() != 0:
        return ""  # the directive would only earn a warning
    try:
        nobody = pwd.getpwnam("nobody")
        return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
    except KeyError:
        return "user root;"


@dataclass
class NginxServer:
    url: str
    process: subprocess.Popen[bytes]
    config_path: Path

    @property
    def pid(self) -> int:
        """The master's pid; its workers are its children."""
        return self.process.pid


@contextlib.contextmanager
def nginx_serving(
    root: Path, workdir: Path, *, sendfile: bool = True, extra_http_config: str = "", extra_server_config: str = ""
) -> Iterator[NginxServer]:
    """A standalone nginx (own config, pid and logs under `workdir`) serving `root`.

    `extra_http_config` is appended inside `http {}` (e.g. `output_buffers 2 1m;` with sendfile off),
    `extra_server_config` inside `server {}` (locations, e.g. for a git repository).

    `root` (and the path down to it) must be readable by nginx's workers: as root they run as `nobody`.
    """
    binary = find_nginx()
    prefix = workdir / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            {_worker_user_directive()}
            daemon off;
            master_process on;
            worker_processes auto;
            pid {prefix}/nginx.pid;
            error_log {prefix}/logs/error.log warn;
            events {{ worker_connections 256; }}
            http {{
                default_type application/octet-stream;
                sendfile {"on" if sendfile else "off"};
                access_log off;
                client_body_temp_path {prefix}/client_body;
                proxy_temp_path {prefix}/proxy;
                fastcgi_temp_path {prefix}/fastcgi;
                uwsgi_temp_path {prefix}/uwsgi;
                scgi_temp_path {prefix}/scgi;
                {extra_http_config}
                server {{
                    listen 127.0.0.1:{port};
                    root {root};
                    {extra_server_config}
                }}
            }}
            """
        )
    )
    log = (prefix / "logs" / "stderr.log").open("wb")
    command = [binary, "-c", str(conf), "-p", f"{prefix}/", "-e", f"{prefix}/logs/error.log"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, process, prefix / "logs" / "error.log")
        yield NginxServer(f"http://127.0.0.1:{port}", process, conf)
    finally:
        _stop(process)
        log.close()


def webdav_put_location(prefix: str) -> str:
    """An nginx `location` (for `extra_server_config`) that stores PUT bodies under `root/<prefix>`, the reference
    for uploads: nginx writes the body to a temp file in its `client_body_temp_path` (on the same disk, under the
    bench's workdir) and renames it into place; no fsync, no hashing. That directory must be writable by nginx's
    workers."""
    return f"location {prefix} {{ dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 0; }}"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"nginx exited with status {process.returncode}:\n{detail}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


# --- Modelyard ---------------------------------------------------------------------------------------------------


def modelyard_cli() -> str:
    """The `modelyard` script next to this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "modelyard"
    if beside.exists():
        return str(beside)
    found = shutil.which("modelyard")
    if found is None:
        sys.exit("the `modelyard` command is missing: run `make install` (or `pip install -e .`) first")
    return found


@dataclass
class ModelyardServer:
    url: str
    token: str
    user: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def modelyard_serving(workdir: Path, user: str = "bench", extra_env: dict[str, str] | None = None) -> Iterator[
    ModelyardServer
]:  # fmt: skip
    """A Modelyard server on a free 127.0.0.1 port with its own data dir, and a write token for `user`."""
    cli = modelyard_cli()
    data_dir = workdir / "modelyard-data"
    env = {**os.environ, **(extra_env or {})}
    storage = ["--data-dir", str(data_dir)]
    run_checked([cli, "admin", "create-user", user, *storage, "--init"], env=env)  # a new hub: its first user
    created = run_checked([cli, "admin", "create-token", user, "--role", "write", *storage], env=env)
    token = created.strip().splitlines()[-1].strip()  # the command prints the token alone on its last line
    port = free_port()
    log_path = workdir / "modelyard-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [cli, "serve", "--host", "127.0.0.1", "--port", str(port), *storage],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/api/health", process=process)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n--- server log ---\n{log_path.read_text(errors='replace')}") from None
        yield ModelyardServer(url, token, user, process, data_dir, log_path)
    except Exception:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        print("--- last lines of the Modelyard server log ---", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        _stop(process)
        log.close()


_UPLOAD_SCRIPT = """
import sys
from huggingface_hub import HfApi

endpoint, token, repo_id, repo_type, local_path, path_in_repo, create = sys.argv[1:]
api = HfApi(endpoint=endpoint, token=token)
if create == "create":
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
info = api.upload_file(
    path_or_fileobj=local_path, path_in_repo=path_in_repo, repo_id=repo_id, repo_type=repo_type,
    commit_message="bench upload",
)
print(info.oid)
"""


def upload_with_huggingface_hub(
    server: ModelyardServer,
    repo_id: str,
    local_path: Path,
    path_in_repo: str,
    repo_type: str = "model",
    *,
    xet: bool = False,
    create_repo: bool = True,
    xet_cache: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> str:
    """Create the repo (unless `create_repo` is False: it exists) and upload one file with huggingface_hub; the
    commit id.

    Through the LFS path by default (Xet off); with `xet`, through hf_xet and the server's CAS, so that the file is
    stored only as Xet, with a private hf_xet cache (`xet_cache`, by default beside the file). It runs in a child
    interpreter so that HF_HUB_DISABLE_XET (and `extra_env`) is set before huggingface_hub is imported.
    """
    env = {
        **os.environ,
        "HF_HUB_DISABLE_XET": "0" if xet else "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_OFFLINE": "0",
        **(extra_env or {}),
    }
    if xet:  # a private hf_xet cache, without telemetry
        cache = xet_cache or local_path.parent / "xet-cache"
        env.update({"HF_XET_CACHE": str(cache), "HF_XET_TELEMETRY_ENABLED": "false"})
    create = "create" if create_repo else "exists"
    args = [server.url, server.token, repo_id, repo_type, str(local_path), path_in_repo, create]
    return run_checked([sys.executable, "-c", _UPLOAD_SCRIPT, *args], env=env).strip().splitlines()[-1]
