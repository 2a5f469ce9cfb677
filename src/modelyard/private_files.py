"""What the hub writes is readable by the service user only.

The data dir holds private repositories' files and git objects, the SQLite database (token hashes, the
URL-signing key) and uploads in progress. Other local users must not read any of it, so:

- every Modelyard process sets the umask 0o077 before it writes anything; children inherit it, so files and
  directories created by libgit2, `git receive-pack`, the pre-receive hook and SQLite are 0600 / 0700 (git
  objects 0400);
- the data dir itself is made 0700 at start. A data dir left wider by an older version is tightened (with a
  warning) rather than refused: other users cannot traverse a 0700 directory, so what it already holds is
  protected without walking it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("modelyard")

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PRIVATE_EXECUTABLE_MODE = 0o700


def restrict_new_files() -> None:
    """From now on, files and directories created by this process and its children are the owner's only."""
    os.umask(PRIVATE_UMASK)


def make_private(path: Path, private_mode: int) -> None:
    """Remove group and other permissions from an existing `path`, saying so when there were any."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    try:
        path.chmod(private_mode)
    except PermissionError:
        log.warning(
            "%s is readable by other users (mode %04o) and could not be changed: chmod it to %04o",
            path,
            mode,
            private_mode,
        )
        return
    log.warning("%s was readable by other users (mode %04o): changed to %04o", path, mode, private_mode)


def private_data_dir(data_dir: Path) -> None:
    """Create the data dir (0700), or tighten an existing one left wider."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    make_private(data_dir, PRIVATE_DIR_MODE)
