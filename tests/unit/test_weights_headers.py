"""safetensors and GGUF header parsing: equal to what the reference libraries report, bounded, and refusing
malformed headers with MalformedWeights (never another exception)."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from modelyard.domain import gguf_header, safetensors_header
from modelyard.domain.errors import MalformedWeights


# ---- safetensors ----------------------------------------------------------------------------------------------
def _header_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    length = safetensors_header.header_length(data[:8])
    return data[8 : 8 + length]


def test_safetensors_counts_equal_the_safetensors_library(tmp_path: Path):
    tensors = {
        "embed": torch.zeros(10, 4, dtype=torch.bfloat16),
        "norm": torch.zeros(4, dtype=torch.float32),
        "mask": torch.zeros(3, 3, dtype=torch.bool),
        "scalar": torch.tensor(1.0, dtype=torch.float16),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    header = safetensors_header.parse_header(_header_bytes(path))
    expected: dict[str, int] = {}
    with safe_open(path, "pt") as opened:
        for name in opened.keys():  # noqa: SIM118 (safe_open has no __iter__)
            sliced = opened.get_slice(name)
            count = int(np.prod(sliced.get_shape())) if sliced.get_shape() else 1
            expected[sliced.get_dtype()] = expected.get(sliced.get_dtype(), 0) + count
    counts = safetensors_header.file_parameters(header)
    assert safetensors_header.hub_field([counts]) == {"parameters": expected, "total": sum(expected.values())}
    assert safetensors_header.hub_field([counts, {"F32": 1}])["parameters"]["F32"] == expected["F32"] + 1
    assert expected == {"BF16": 40, "F32": 4, "BOOL": 9, "F16": 1}


@pytest.mark.parametrize(
    "prefix",
    [b"", b"\x01\x00\x00", *(struct.pack("<Q", n) for n in (0, 1, 2**63, 26_000_000))],
)
def test_safetensors_header_lengths_out_of_bounds(prefix: bytes):
    with pytest.raises(MalformedWeights):
        safetensors_header.header_length(prefix)


@pytest.mark.parametrize(
    "header",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"[" * 100_000,
        json.dumps({"t": "x"}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}).encode(),
        json.dumps({"t": {"dtype": "f32", "shape": [2], "data_offsets": [0, 8]}}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [True], "data_offsets": [0, 8]}}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}).encode(),
        json.dumps({"t": {"dtype": "F32", "shape": [2**64], "data_offsets": [0, 8]}}).encode(),
        json.dumps({"__metadata__": "x"}).encode(),
    ],
)
def test_malformed_safetensors_headers_are_refused(header: bytes):
    with pytest.raises(MalformedWeights):
        safetensors_header.parse_header(header)


# ---- GGUF -----------------------------------------------------------------------------------------------------
def _write_gguf(path: Path, *, padding: int = 0, file_type: gguf.LlamaFileType | None = gguf.LlamaFileType.MOSTLY_Q8_0):
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(2048)
    writer.add_block_count(2)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_embedding_length(64)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(["<unk>", "<s>", "</s>", *(f"tok{i}" for i in range(200))])
    writer.add_token_scores([0.0] * 203)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_tensor("token_embd.weight", np.ones((203, 64), dtype=np.float16))
    writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    weights = gguf.quants.quantize(np.random.rand(64, 256).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.attn_q.weight", weights, raw_shape=weights.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    if padding:
        writer.add_tensor("padding", np.zeros(padding // 2, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _parse(data: bytes) -> gguf_header.GgufHeader:
    return gguf_header.parse_gguf(lambda start, end: data[start:end], len(data))


def test_gguf_header_equals_the_reference_reader(tmp_path: Path):
    path = tmp_path / "model.gguf"
    _write_gguf(path, padding=4 * 1024 * 1024)
    header = _parse(path.read_bytes())
    reader = gguf.GGUFReader(path)
    assert [(t.name, t.type_name, t.elements) for t in header.tensors] == [
        (t.name, t.tensor_type.name, t.n_elements) for t in reader.tensors
    ]
    fields = gguf_header.hub_fields([header])
    tokens = reader.fields["tokenizer.ggml.tokens"]
    assert fields["total"] == sum(t.n_elements for t in reader.tensors)
    assert fields["architecture"] == reader.fields["general.architecture"].contents() == "llama"
    assert fields["context_length"] == reader.fields["llama.context_length"].contents() == 2048
    assert fields["chat_template"] == reader.fields["tokenizer.chat_template"].contents()
    assert fields["bos_token"] == tokens.contents(reader.fields["tokenizer.ggml.bos_token_id"].contents()) == "<s>"
    assert fields["eos_token"] == "</s>"
    assert fields["quantization"] == "Q8_0"
    assert fields["parameters"] == {"F16": 203 * 64 + 2 * 1024 * 1024, "F32": 64, "Q8_0": 64 * 256}
    assert fields["attention"] == {"layers": 2, "heads": 4, "kv_heads": 2, "hidden_size": 64}
    # Only the header was read: the 4 MiB of tensor data after it were not.
    assert header.end < header.bytes_read <= gguf_header.FIRST_BLOCK < path.stat().st_size // 50


def test_gguf_quantization_without_file_type_is_the_largest_type(tmp_path: Path):
    path = tmp_path / "model.gguf"
    _write_gguf(path, file_type=None)
    assert gguf_header.quantization(_parse(path.read_bytes())) == "Q8_0"


def test_gguf_large_header_is_read_in_growing_blocks(tmp_path: Path):
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_token_list([f"token-{i:06d}" for i in range(100_000)])  # ~2 MB of header
    writer.add_tensor("w", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    reads: list[tuple[int, int]] = []

    def read(start: int, end: int) -> bytes:
        reads.append((start, end))
        return data[start:end]

    header = gguf_header.parse_gguf(read, len(data))
    assert header.tokens is not None and header.tokens[99_999] == "token-099999"
    assert all(a[1] == b[0] for a, b in itertools.pairwise(reads)), "each byte is read once"
    assert header.bytes_read == reads[-1][1] < 2 * header.end + gguf_header.FIRST_BLOCK


def _gguf_bytes(*parts: bytes, version: int = 3, tensors: int = 0, keys: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, keys) + b"".join(parts)


def _string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GGUX" + b"\x00" * 20,
        _gguf_bytes(version=1),
        _gguf_bytes(version=99),
        _gguf_bytes(tensors=2**40),
        _gguf_bytes(keys=2**40),
        _gguf_bytes(keys=1),  # truncated
        _gguf_bytes(struct.pack("<Q", 2**62), keys=1),  # a key longer than the file
        _gguf_bytes(_string(b"k") + struct.pack("<I", 99), keys=1),  # unknown value type
        _gguf_bytes(_string(b"k") + struct.pack("<IIQ", 9, 4, 2**40), keys=1),  # a huge array
        _gguf_bytes(_string(b"k") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 10, keys=1),  # nested too deep
        _gguf_bytes(_string(b"k") + struct.pack("<I", 8) + struct.pack("<Q", 2**30), keys=1),  # a huge string
        _gguf_bytes(_string(b"k") + struct.pack("<IB", 0, 1) + _string(b"k") + struct.pack("<IB", 0, 1), keys=2),
        _gguf_bytes(_string(b"t") + struct.pack("<I", 9) + struct.pack("<QQ", 1, 1), tensors=1),  # rank 9
        _gguf_bytes(_string(b"t") + struct.pack("<I", 2) + struct.pack("<QQ", 2**40, 2**40) + b"\0" * 12, tensors=1),
        _gguf_bytes(_string(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 4, 1) + b"\0" * 4, keys=1),
    ],
)
def test_malformed_gguf_headers_are_refused(data: bytes):
    with pytest.raises(MalformedWeights):
        _parse(data)


def test_gguf_header_reads_are_capped(monkeypatch):
    monkeypatch.setattr(gguf_header, "MAX_HEADER_BYTES", 1024)
    data = _gguf_bytes(_string(b"k") + struct.pack("<I", 8) + _string(b"x" * 4096), keys=1)
    with pytest.raises(MalformedWeights, match="larger than"):
        _parse(data)
