"""Xet uploads built by hand, exactly as hf_xet would send them: one xorb and the shard describing the file."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from helpers import error_text, sha256_bytes


@dataclass
class Upload:
    data: bytes
    sha256: str  # what the shard claims
    xorb_hash: str
    xorb: bytes
    file_hash: str
    shard: bytes


def build_upload(data: bytes, chunk_size: int = 40 * 1024, claimed_sha256: str | None = None) -> Upload:
    """`claimed_sha256` lets a test lie in the shard about the content's sha256, as a hostile client could."""
    from modelyard.domain.xet.hashes import chunk_hash, file_hash, verification_hash, xorb_hash
    from modelyard.domain.xet.shard import ShardFile, ShardXorb, serialize_shard
    from modelyard.domain.xet.terms import FileTerm
    from modelyard.domain.xet.xorb import serialize_xorb

    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    leaves = [(chunk_hash(chunk), len(chunk)) for chunk in chunks]
    xorb = xorb_hash(leaves)
    sha256 = claimed_sha256 or sha256_bytes(data)
    shard_file = ShardFile(
        hash=file_hash(leaves),
        terms=(FileTerm(xorb, 0, len(chunks), len(data)),),
        verification=(verification_hash(h for h, _ in leaves),),
        sha256=sha256,
    )
    shard = serialize_shard([shard_file], [ShardXorb.from_chunks(xorb, leaves)])
    return Upload(data, sha256, xorb.hex(), serialize_xorb(chunks), shard_file.hash.hex(), shard)


def upload_by_hand(client: httpx.Client, repo_id: str, upload: Upload) -> httpx.Response:
    """POST the xorb and the shard of `upload` with a write token of `repo_id` (`client` holds a writer's token);
    the shard's answer."""
    token = client.get(f"/api/models/{repo_id}/xet-write-token/main").json()
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token['accessToken']}"}) as cas:
        stored = cas.post(f"{token['casUrl']}/v1/xorbs/default/{upload.xorb_hash}", content=upload.xorb)
        assert stored.status_code == 200, error_text(stored)
        return cas.post(f"{token['casUrl']}/v1/shards", content=upload.shard)
