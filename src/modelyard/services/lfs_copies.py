"""Cross-repository copies of large files (`CommitOperationCopy(src_repo_id=…)`, hub-api §8.6).

The client asks the *source* repository to duplicate objects into the target before it commits there.
Only what the source repository may itself read is ever linked (services.lfs.locate, the one rule), and
the caller must be able to read the source (checked by the route) and write the target: knowing a hash,
or naming a Xet file, is never enough to reach bytes one cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.domain.lfs_pointer import is_sha256
from modelyard.domain.repo_ids import RepoRef
from modelyard.services import lfs, repos, xet_uploads
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor


@dataclass(frozen=True)
class CopyRequest:
    sha256: str
    xet_hash: str


def duplicate(
    hub: Hub, actor: Actor | None, source: RepoRecord, target_ref: RepoRef, files: list[CopyRequest]
) -> list[dict[str, str]]:
    """Link each object of `source` into the target repository; returns the failures, as the Hub lists them."""
    target = repos.get_repo(hub, actor, target_ref, Action.WRITE)
    found = lfs.locate(hub, source.pk, {item.sha256 for item in files if is_sha256(item.sha256)}, hash_claims=True)
    failed = []
    for item in files:
        content = found.get(item.sha256)
        if content is None:
            failed.append({"sha256": item.sha256, "error": "No such LFS file in the source repository"})
        elif content.xet is not None and content.xet.hash != item.xet_hash:
            failed.append({"sha256": item.sha256, "error": "xetHash does not match the source's file"})
        elif content.blob:
            lfs.link_object(hub, target.pk, item.sha256, content.size)
        elif content.xet is not None:
            xet_uploads.link_verified_file(hub, target.pk, item.sha256, content.xet.hash, content.size)
    return failed
