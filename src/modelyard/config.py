"""All configuration in one object: `MODELYARD_*` environment variables, overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GiB = 1024**3
MiB = 1024**2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELYARD_")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./modelyard-data")
    # Empty means the embedded default: SQLite inside the data directory.
    database_url: str = ""
    # Base of the URLs we put in responses. Empty: derived from each request's Host header,
    # which is what the client's HF_ENDPOINT points at.
    public_url: str = ""
    # Signs self-authenticating LFS upload URLs. Empty: generated once and kept in the data dir.
    secret_key: str = ""

    max_file_size: int = Field(default=50 * GiB, description="Largest file a repository may hold, in bytes")
    # The Hub refuses regular (non-LFS) files above 10 MiB: they travel base64 inside the commit body.
    max_regular_file_size: int = 10 * MiB
    lfs_multipart_chunk_size: int = 64 * MiB
    upload_url_ttl_seconds: int = 3600
    # Give every LFS upload a Xet copy in the background, so hf_xet clients download it through Xet.
    xet_convert_lfs: bool = True
    # Background work (the LFS -> Xet copies) runs in worker processes at the lowest CPU and I/O priority, never in
    # the serving ones: how many `modelyard serve` starts (0: none; jobs then wait for a `modelyard worker`).
    background_workers: int = Field(default=1, ge=0)
    # A failed background job is tried again after this many seconds, doubled after each further failure (<= 6 h).
    background_retry_seconds: float = Field(default=60, gt=0)

    # Disk for plain copies of Xet files (services/xet_copies.py), which plain downloads (curl, git-lfs, browsers)
    # read like LFS blobs instead of rebuilding them from the xorbs; the least recently used go first. 0: none.
    xet_plain_copies_bytes: int = Field(default=64 * GiB, ge=0)
    # How long a write waits for another writer of the same repository before answering 503.
    repo_lock_timeout_seconds: float = Field(default=60.0, gt=0)
    # Temp files and partial uploads untouched for this long are a crash's leftovers, removed at start-up.
    stale_upload_age_seconds: int = Field(default=24 * 3600, gt=0)
    # Failed authentications (wrong tokens or passwords) allowed per client address, and per account, within
    # one window; beyond them every authenticated request from there answers 429 until the window ends.
    auth_failure_limit: int = Field(default=20, gt=0)
    auth_failure_window_seconds: int = Field(default=600, gt=0)
    # Each serving process counts downloads in memory and writes them to the database this often (and when it stops).
    download_flush_seconds: float = Field(default=30, gt=0)
    tree_page_size: int = 1000
    commits_page_size: int = 50
    # Slow or stalled clients are cut off (http_protocol.py): seconds for the request head, and without progress
    # on a request body or a response; and the largest request head.
    header_timeout_seconds: float = Field(default=30, gt=0)
    body_idle_timeout_seconds: float = Field(default=60, gt=0)
    response_idle_timeout_seconds: float = Field(default=60, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, gt=0)
    max_header_count: int = Field(default=100, gt=0)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'modelyard.db').resolve()}"

    @property
    def max_commit_body_size(self) -> int:
        # Generous room for many base64-encoded regular files plus the NDJSON framing.
        return 16 * self.max_regular_file_size + 16 * MiB
