"""What a crash leaves behind: upload temp files, multipart parts, half-deleted repositories, the quarantined objects
of cut-off pushes. Swept at start-up.

Only what nobody touched for `stale_upload_age_seconds` goes, so that an upload another process is receiving
right now (several `modelyard serve` processes may share a data directory) is never touched.
"""

from __future__ import annotations

from modelyard.services import xet, xet_copies
from modelyard.services.hub import Hub


def sweep(hub: Hub) -> int:
    """Remove the leftovers; returns how many files and folders went."""
    max_age = hub.settings.stale_upload_age_seconds
    swept = hub.blobs.sweep(max_age) + xet.store(hub).sweep(max_age) + hub.git.sweep_trash()
    swept += hub.git.sweep_quarantines(max_age)
    return swept + xet_copies.copies(hub).sweep(max_age)
