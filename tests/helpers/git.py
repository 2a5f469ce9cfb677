"""The real `git` binary, isolated from the user's configuration, for tests that clone and push."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Git:
    """`git` with a private HOME (git-lfs installed there), never prompting; optionally with stored credentials."""

    home: Path
    server_url: str
    env: dict[str, str] = field(repr=False)

    @classmethod
    def isolated(cls, home: Path, server_url: str) -> Git:
        """A client whose HOME is the fresh directory `home`, with git-lfs installed and an identity set."""
        home.mkdir()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "SSH_ASKPASS"))}
        env.update(
            {
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "",
                "GIT_LFS_SKIP_SMUDGE": "0",
            }
        )
        client = cls(home, server_url, env)
        client("lfs", "install", "--skip-repo")
        client("config", "--global", "user.name", "Git Tester")
        client("config", "--global", "user.email", "tester@example.com")
        client("config", "--global", "init.defaultBranch", "main")
        return client

    def __call__(
        self, *args: str, cwd: Path | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=300
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} exited with {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def login(self, token: str, user: str = "git") -> None:
        """Store credentials for the server, as `git credential-store` keeps them after a first login."""
        host = self.server_url.removeprefix("http://")
        (self.home / ".git-credentials").write_text(f"http://{user}:{token}@{host}\n")
        self("config", "--global", "credential.helper", "store")

    def url(self, repo_id: str, repo_type: str = "model", suffix: str = "") -> str:
        prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
        return f"{self.server_url}/{prefix}{repo_id}{suffix}"

    def clone(self, repo_id: str, dest: Path, **kwargs) -> Path:
        self("clone", self.url(repo_id), str(dest), **kwargs)
        return dest

    def head(self, cwd: Path, rev: str = "HEAD") -> str:
        return self("rev-parse", rev, cwd=cwd).stdout.strip()

    def commit_all(self, cwd: Path, message: str) -> str:
        self("add", "-A", cwd=cwd)
        self("commit", "-q", "-m", message, cwd=cwd)
        return self.head(cwd)
