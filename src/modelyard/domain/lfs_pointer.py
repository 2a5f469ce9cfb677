"""Git LFS pointer files (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

SPEC_LINE = "version https://git-lfs.github.com/spec/v1"
# The media type of the LFS batch API's requests and answers (git-lfs docs/api/batch.md).
LFS_JSON = "application/vnd.git-lfs+json"
# A pointer is tiny; anything larger is content, not a pointer.
MAX_POINTER_SIZE = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


@dataclass(frozen=True)
class LfsPointer:
    oid: str  # sha256 hex of the content
    size: int

    def encode(self) -> bytes:
        return f"{SPEC_LINE}\noid sha256:{self.oid}\nsize {self.size}\n".encode()

    @classmethod
    def decode(cls, data: bytes) -> LfsPointer | None:
        """Parse a pointer blob; None when `data` is not an LFS pointer."""
        if len(data) > MAX_POINTER_SIZE or not data.startswith(b"version https://git-lfs"):
            return None
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return None
        fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        oid = fields.get("oid", "")
        size = fields.get("size", "")
        if not oid.startswith("sha256:") or not is_sha256(oid[7:]) or not size.isdigit():
            return None
        return cls(oid=oid[7:], size=int(size))
