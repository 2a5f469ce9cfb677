"""The pre-receive hook: `python -m modelyard.gitserve.hook`, run by `git receive-pack` before any ref moves.

The server spawns receive-pack with `core.hooksPath` pointing at a script that runs this module, and with the
environment this module needs (see gitserve.process.hook_environment): the settings as MODELYARD_* variables,
and MODELYARD_HOOK_REPO_PK naming the repository. It reads receive-pack's `old new ref` lines from stdin,
checks them with services.push, and on any problem prints the reasons (git shows them as `remote: ...`)
and exits non-zero, which rejects the whole push.

Once the push passes, it takes the repository's writer lock through the descriptor MODELYARD_HOOK_LOCK_FD that
the server passed down to receive-pack: the lock then stays held, after the hook exits, while receive-pack moves
the refs and the server updates the index (see docs/architecture.md).
"""

from __future__ import annotations

import os
import sys

REPO_PK_VARIABLE = "MODELYARD_HOOK_REPO_PK"
LOCK_FD_VARIABLE = "MODELYARD_HOOK_LOCK_FD"


def main() -> int:
    from modelyard.config import Settings
    from modelyard.domain.errors import RepoNotFound, RepositoryBusy
    from modelyard.services import push
    from modelyard.services.hub import Hub

    updates = [push.RefUpdate.parse(line) for line in sys.stdin.read().splitlines() if line.strip()]
    hub = Hub.open(Settings(), migrate=False)
    record = push.load_record(hub, int(os.environ[REPO_PK_VARIABLE]))
    if record is None:
        print("error: this repository no longer exists", file=sys.stderr)
        return 1
    # The checks read only the pushed objects and the old values receive-pack will compare-and-swap, so they run
    # before the lock: a large push does not hold up the repository's other writers while it is checked.
    try:
        push.check_push(hub, record, push.open_quarantined(hub.git.path(record.storage_key)), updates)
    except push.PushRejected as rejected:
        print("error: push rejected by the hub:", file=sys.stderr)
        for problem in rejected.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        push.hold_writer_lock(hub, record, int(os.environ[LOCK_FD_VARIABLE]), updates)
    except (RepositoryBusy, RepoNotFound) as refused:
        print(f"error: {refused.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # a bug or a broken setup must reject the push, and say why
        print(f"error: the hub could not check this push: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
