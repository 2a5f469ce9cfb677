"""Xet hashes (§2): string form, chunk/xorb/file/range hashes against the spec's test vectors."""

from __future__ import annotations

import hashlib
import random

import pytest

from modelyard.domain.errors import BadRequest
from modelyard.domain.xet.chunking import split_chunks
from modelyard.domain.xet.errors import InvalidHashString
from modelyard.domain.xet.hashes import (
    DATA_KEY,
    INTERNAL_NODE_KEY,
    ZERO_HASH,
    MerkleHash,
    chunk_hash,
    file_hash,
    hmac_hash,
    is_global_dedup_eligible,
    keyed_hash,
    merkle_root,
    raw_to_string,
    string_to_raw,
    verification_hash,
    xorb_hash,
)


def _leaves(data: bytes) -> list[tuple[MerkleHash, int]]:
    return [(chunk_hash(chunk), len(chunk)) for chunk in split_chunks(data)]


# (input, chunk count, chunk0 hash, xorb hash, file hash, range hash over all chunks) — spec §2.7
VECTORS = {
    "hello": (
        b"hello xet " * 100,
        1,
        "446f51d2e4795d8a48f68d34031beec3261084543161ba7a58cecd747aab6832",
        "446f51d2e4795d8a48f68d34031beec3261084543161ba7a58cecd747aab6832",
        "1cbee08f47a9f5695f5093501b4dda539c5fdf29cc95840e92ad17a76dc58094",
        "c37e4d6923db68e96c416310fdb21c37cd0e3a9adcbf0c58096b63944e81e3ad",
    ),
    "ramp": (
        bytes(range(256)) * 4096,
        8,
        "098aa7e18453d6e5182c43d9e97b41337ae351f11cb336e7b0f5c50c0b7d19a7",
        "985c706094065f20092570f3252f93ea9a5a73f3149f0b818ca6ea1931d02a27",
        "64ced0eb807e8cdd2a45f3766c186f2e59106b04f97b3c4dee241ce52bebc779",
        "aedee4d42af179a5cea5a7f6564d8ee653b0957b87b9be897c2b2cf89a108961",
    ),
    "sha256s": (
        b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(40000)),
        22,
        "ccef711d5631b4fb82161bc7cae934420898a5bd664ecac6594a6ce8a6158158",
        "bae3a3f80a8a3f454332f02c5ea1edb314342df85d854313f51fc0839603dc73",
        "18339e32145669b17ad583e6c8b4429e775cdb26d31d80ba6791fb6b0c8198d9",
        "4fa003b7c9054161851f49cc2fd65af2df1fb4d6d2e73637dfc5ad67506a7fca",
    ),
}


def test_string_form_swaps_bytes_inside_each_8_byte_group():
    raw = bytes(range(32))
    text = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert raw_to_string(raw) == text
    assert string_to_raw(text) == raw
    h = MerkleHash.from_hex(text)
    assert h.raw == raw and str(h) == text and h.hex() == text
    assert MerkleHash.from_hex(text.upper()) == h


@pytest.mark.parametrize("bad", ["", "00" * 31, "zz" * 32, "0" * 65, "0x" + "0" * 62])
def test_invalid_hash_strings_are_bad_requests(bad):
    with pytest.raises(InvalidHashString) as info:
        MerkleHash.from_hex(bad)
    assert isinstance(info.value, BadRequest) and info.value.status == 400


def test_merkle_hash_requires_32_bytes():
    with pytest.raises(ValueError):
        MerkleHash(b"\x00" * 31)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_spec_test_vectors(name):
    data, count, chunk0, xorb, file, range_hash = VECTORS[name]
    leaves = _leaves(data)
    assert len(leaves) == count
    assert leaves[0][0].hex() == chunk0
    assert xorb_hash(leaves).hex() == xorb
    assert file_hash(leaves).hex() == file
    assert verification_hash(h for h, _ in leaves).hex() == range_hash


def test_empty_input_hashes_to_zero():
    assert merkle_root([]) == ZERO_HASH
    assert file_hash([]) == ZERO_HASH
    assert ZERO_HASH.hex() == "0" * 64 and ZERO_HASH.is_zero


def test_single_leaf_is_its_own_root_but_file_hash_is_keyed():
    h = chunk_hash(b"abc")
    assert merkle_root([(h, 3)]) == h
    assert file_hash([(h, 3)]) == keyed_hash(bytes(32), h.raw) != h


def test_two_leaves_make_one_parent_over_the_documented_text():
    a, b = chunk_hash(b"a"), chunk_hash(b"bb")
    text = f"{a.hex()} : 1\n{b.hex()} : 2\n".encode()
    assert merkle_root([(a, 1), (b, 2)]) == keyed_hash(INTERNAL_NODE_KEY, text)


def test_group_cut_rule_on_many_leaves():
    """Independent re-implementation of §2.3 on 200 leaves (several tree levels)."""
    rng = random.Random(7)
    leaves = [(MerkleHash(rng.randbytes(32)), rng.randint(1, 1000)) for _ in range(200)]

    def reference(level):
        while len(level) > 1:
            out, i = [], 0
            while i < len(level):
                n = len(level) - i
                end = i + n
                if n > 2:
                    end = i + min(9, n)
                    for j in range(i + 2, i + min(9, n)):
                        if int.from_bytes(level[j][0].raw[24:], "little") % 4 == 0:
                            end = j + 1
                            break
                group = level[i:end]
                text = "".join(f"{h} : {s}\n" for h, s in group).encode()
                out.append((keyed_hash(INTERNAL_NODE_KEY, text), sum(s for _, s in group)))
                i = end
            level = out
        return level[0][0]

    assert merkle_root(leaves) == reference(leaves)


def test_chunk_hash_is_keyed_blake3_with_data_key():
    from blake3 import blake3

    assert chunk_hash(b"xyz").raw == blake3(b"xyz", key=DATA_KEY).digest()


def test_hmac_and_dedup_eligibility():
    h = chunk_hash(b"hello")
    key = bytes(range(32))
    assert hmac_hash(h, key) == keyed_hash(key, h.raw) != h
    with pytest.raises(ValueError):
        hmac_hash(h, b"short")
    every_1024 = MerkleHash(bytes(24) + (2048).to_bytes(8, "little"))
    other = MerkleHash(bytes(24) + (2049).to_bytes(8, "little"))
    assert is_global_dedup_eligible(every_1024)
    assert not is_global_dedup_eligible(other)
    assert is_global_dedup_eligible(other, first_in_file=True)
    assert is_global_dedup_eligible(other, flags=0x8000_0000)


def test_sha256_byte_swap_gotcha_example():
    """§2.7: the shard's metadata-ext field for the 1000-byte file, and its string form."""
    digest = hashlib.sha256(b"hello xet " * 100).hexdigest()
    assert digest == "c7e258106226bfe43bfa30ea03569ee0f73998f78f94546939bad395bd58a433"
    field = string_to_raw(digest)
    assert field.hex().startswith("e4bf2662") and field.hex().endswith("ba39")
    assert raw_to_string(field) == digest


def test_file_hash_matches_hf_xet(tmp_path):
    hf_xet = pytest.importorskip("hf_xet")
    if not hasattr(hf_xet, "hash_files"):
        pytest.skip("this hf_xet has no hash_files")
    rng = random.Random(1234)
    samples = {
        "random.bin": rng.randbytes(400_000),
        "mixed.bin": (rng.randbytes(50_000) + b"\x00" * 70_000) * 3 + b"tail",
        "tiny.bin": b"x",
    }
    paths = []
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    results = hf_xet.hash_files(paths)
    for (_name, data), result in zip(samples.items(), results, strict=True):
        assert result.file_size == len(data)
        assert result.hash == file_hash(_leaves(data)).hex()
