"""What the weights are, read from file headers only: a tiny random Llama saved with safetensors (whole and
sharded) and a tiny GGUF file, uploaded through huggingface_hub over LFS and over Xet. The metadata equals what the
`safetensors` and `gguf` libraries report locally, reading it costs a small fraction of the files (bytes counted by
the reader itself, run in-process on the live server's data), and huggingface_hub's own header readers work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.config import Settings
from modelyard.db.models import RepoCard
from modelyard.domain.repo_ids import RepoRef, RepoType
from modelyard.services import lfs, repos, weights_info
from modelyard.services.files import snapshot
from modelyard.services.hub import Hub

pytestmark = pytest.mark.slow

# Big enough that a header is a tiny part of a file: 16,000 x 64 bf16 embeddings and LM head = 4 MB.
LLAMA = {
    "vocab_size": 16_000,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> dict[str, Path]:
    """The same random Llama saved whole and in shards of at most 1 MB."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**LLAMA)).to(torch.bfloat16)
    model.model.norm.weight.data = model.model.norm.weight.data.float()  # a second dtype to count
    root = tmp_path_factory.mktemp("llama")
    model.save_pretrained(root / "whole")
    model.save_pretrained(root / "sharded", max_shard_size="1MB")
    assert (root / "sharded" / "model.safetensors.index.json").exists()
    return {"whole": root / "whole", "sharded": root / "sharded"}


def _local_counts(folder: Path) -> dict[str, object]:
    """What the safetensors library says about a saved model's parameters."""
    from safetensors import safe_open

    counts: dict[str, int] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(path, "pt") as opened:
            for name in opened.keys():  # noqa: SIM118 (safe_open has no __iter__)
                sliced = opened.get_slice(name)
                counts[sliced.get_dtype()] = counts.get(sliced.get_dtype(), 0) + int(np.prod(sliced.get_shape()))
    return {"parameters": counts, "total": sum(counts.values())}


@pytest.fixture(scope="module")
def hub(server) -> Iterator[Hub]:
    """The live server's hub, opened in this process to run the reader and count what it reads."""
    opened = Hub.open(Settings(data_dir=server.data_dir, database_url=server.db_url), migrate=False)
    yield opened
    opened.db.engine.dispose()


@pytest.fixture
def xet(monkeypatch, tmp_path: Path) -> None:
    """Let huggingface_hub upload with hf_xet in this test (the session disables it), with an empty cache."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    monkeypatch.setenv("HF_XET_TELEMETRY_ENABLED", "false")


def _indexed(hub: Hub, repo_id: str) -> tuple[dict | None, dict | None]:
    """The weights fields the commit stored in the repository's index row."""
    record = repos.get_repo(hub, None, RepoRef.parse(RepoType.MODEL, repo_id))
    with hub.db.session() as session:
        card = session.get(RepoCard, record.pk)
        assert card is not None and card.commit == snapshot(hub, record, "main").commit
        return card.safetensors, card.gguf


def _read(hub: Hub, repo_id: str) -> weights_info.WeightsInfo:
    record = repos.get_repo(hub, None, RepoRef.parse(RepoType.MODEL, repo_id))
    return weights_info.read_weights(hub, snapshot(hub, record, "main"))


def _stored_as(hub: Hub, repo_id: str, path: str) -> str:
    """ "blob" when the file's bytes are an LFS blob, "xet" when they exist only as a Xet file."""
    record = repos.get_repo(hub, None, RepoRef.parse(RepoType.MODEL, repo_id))
    entry = snapshot(hub, record, "main").git.entry(snapshot(hub, record, "main").commit, path)
    assert entry is not None and entry.lfs is not None
    content = lfs.locate(hub, record.pk, {entry.lfs.oid}, hash_claims=False)[entry.lfs.oid]
    return "blob" if content.blob else "xet"


def _weights_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*.safetensors"))


@pytest.mark.parametrize("layout", ["whole", "sharded"])
def test_safetensors_metadata_over_lfs(api, hub: Hub, tiny_llama, make_repo, layout: str):
    repo_id = make_repo()
    api.upload_folder(repo_id=repo_id, folder_path=tiny_llama[layout])
    first = sorted(p.name for p in tiny_llama[layout].glob("*.safetensors"))[0]
    assert _stored_as(hub, repo_id, first) == "blob"
    _check_safetensors(api, hub, repo_id, tiny_llama[layout])


@pytest.mark.parametrize("layout", ["whole", "sharded"])
def test_safetensors_metadata_over_xet(xet, api, hub: Hub, tiny_llama, make_repo, layout: str):
    repo_id = make_repo()
    api.upload_folder(repo_id=repo_id, folder_path=tiny_llama[layout])
    first = sorted(p.name for p in tiny_llama[layout].glob("*.safetensors"))[0]
    assert _stored_as(hub, repo_id, first) == "xet"
    _check_safetensors(api, hub, repo_id, tiny_llama[layout])


def _check_safetensors(api, hub: Hub, repo_id: str, folder: Path) -> None:
    expected = _local_counts(folder)
    assert set(expected["parameters"]) == {"BF16", "F32"}
    assert _indexed(hub, repo_id) == (expected, None)  # stored by the commit
    assert api.model_info(repo_id, expand=["safetensors"]).safetensors == expected
    info = _read(hub, repo_id)
    assert (info.safetensors, info.gguf) == (expected, None)
    # The headers, never the weights: well under 2% of the files.
    assert 0 < info.bytes_read < _weights_size(folder) // 50
    # A commit that leaves the weights alone reads no safetensors header again (at most the shards' index).
    again = _read(hub, repo_id)
    assert again.safetensors == expected
    index = folder / "model.safetensors.index.json"
    assert again.bytes_read == (index.stat().st_size if index.exists() else 0)
    # huggingface_hub's own reader (Range reads of /resolve) sees the same tensors.
    metadata = api.get_safetensors_metadata(repo_id)
    assert metadata.parameter_count == expected["parameters"]
    assert metadata.sharded == (folder.name == "sharded")


def test_sharded_safetensors_metadata_in_one_request(api, tiny_llama, make_repo):
    repo_id = make_repo()
    api.upload_folder(repo_id=repo_id, folder_path=tiny_llama["sharded"])
    by_ranges = api.get_safetensors_metadata(repo_id)
    in_one = api.get_sharded_safetensors_metadata(repo_id)
    assert in_one.files_metadata == by_ranges.files_metadata
    assert in_one.weight_map == by_ranges.weight_map
    assert (
        in_one.metadata
        == by_ranges.metadata
        == json.loads((tiny_llama["sharded"] / "model.safetensors.index.json").read_text())["metadata"]
    )


def _write_gguf(path: Path) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(4096)
    writer.add_block_count(2)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_embedding_length(64)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(["<unk>", "<s>", "</s>", *(f"tok{i}" for i in range(1000))])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}")
    weights = gguf.quants.quantize(np.random.rand(1024, 1024).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.attn_q.weight", weights, raw_shape=weights.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    writer.add_tensor("token_embd.weight", np.random.rand(1003 * 4, 1024).astype(np.float16))  # 8 MB
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("transfer", ["lfs", "xet"])
def test_gguf_metadata_equals_the_reference_reader(
    request, api, hub: Hub, make_repo, http: httpx.Client, tmp_path: Path, transfer: str
):
    import gguf

    if transfer == "xet":
        request.getfixturevalue("xet")
    path = tmp_path / "tiny-Q8_0.gguf"
    _write_gguf(path)
    repo_id = make_repo()
    api.upload_file(path_or_fileobj=path, path_in_repo=path.name, repo_id=repo_id)
    assert _stored_as(hub, repo_id, path.name) == ("blob" if transfer == "lfs" else "xet")
    info = _read(hub, repo_id)
    reader = gguf.GGUFReader(path)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    assert info.gguf is not None and info.safetensors is None
    assert _indexed(hub, repo_id) == (None, info.gguf)  # stored by the commit
    assert api.model_info(repo_id, expand=["gguf"]).gguf == info.gguf
    assert info.gguf["total"] == sum(t.n_elements for t in reader.tensors)
    assert info.gguf["architecture"] == reader.fields["general.architecture"].contents()
    assert info.gguf["context_length"] == reader.fields["llama.context_length"].contents() == 4096
    assert info.gguf["chat_template"] == reader.fields["tokenizer.chat_template"].contents()
    assert info.gguf["bos_token"] == tokens.contents(reader.fields["tokenizer.ggml.bos_token_id"].contents())
    assert info.gguf["eos_token"] == tokens.contents(reader.fields["tokenizer.ggml.eos_token_id"].contents())
    assert info.gguf["quantization"] == "Q8_0"
    by_type: dict[str, int] = {}
    for tensor in reader.tensors:
        by_type[tensor.tensor_type.name] = by_type.get(tensor.tensor_type.name, 0) + tensor.n_elements
    assert info.gguf["parameters"] == by_type
    assert 0 < info.bytes_read < path.stat().st_size // 50
    again = _read(hub, repo_id)  # the same file at the next commit: its header is not read again
    assert (again.gguf, again.bytes_read) == (info.gguf, 0)
    # The memory estimate sizes the stored weights as the reference reader does, and the cache from the metadata.
    body = http.get(f"/api/models/{repo_id}/memory", params={"context_length": "100"}).json()
    assert body["source"] == "gguf" and body["estimates"][0]["precision"] == "stored"
    assert body["estimates"][0]["weightsBytes"] == sum(t.n_bytes for t in reader.tensors)
    assert body["attention"] == {"layers": 2, "kvHeads": 4, "keyLength": 16, "valueLength": 16}
    assert body["estimates"][0]["kvCacheBytes"] == 2 * 2 * (16 + 16) * 2 * 100


def test_split_gguf_and_adapter_weights(api, hub: Hub, make_repo, tmp_path: Path):
    """A split GGUF counts every part's tensors; a PEFT adapter's safetensors are the model's weights."""
    import gguf
    import torch
    from safetensors.torch import save

    parts = {}
    for number, rows in ((1, 3), (2, 5)):
        path = tmp_path / f"tiny-Q8_0-0000{number}-of-00002.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_tensor(f"t{number}", np.ones((rows, 32), dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        parts[path.name] = path.read_bytes()
    adapter = save({"lora_A": torch.zeros(8, 64, dtype=torch.float16), "lora_B": torch.zeros(64, 8)})
    repo_id = make_repo({**parts, "adapter_model.safetensors": adapter})
    info = _read(hub, repo_id)
    assert info.gguf is not None and info.gguf["total"] == (3 + 5) * 32
    assert info.safetensors == {"parameters": {"F16": 512, "F32": 512}, "total": 1024}


def test_malformed_headers_give_no_metadata_and_no_error(api, hub: Hub, make_repo, http: httpx.Client):
    bad_safetensors = (2**40).to_bytes(8, "little") + b"{" * 100_000
    bad_gguf = b"GGUF" + (3).to_bytes(4, "little") + (2**40).to_bytes(8, "little") + b"\0" * 100_000
    index = {"metadata": {}, "weight_map": {"w": "../outside.safetensors"}}
    repo_id = make_repo(
        {
            "model.safetensors": bad_safetensors,
            "broken.gguf": bad_gguf,
            "other/model.safetensors.index.json": json.dumps(index).encode(),
        }
    )
    info = _read(hub, repo_id)
    assert (info.safetensors, info.gguf) == (None, None) == _indexed(hub, repo_id)
    shown = api.model_info(repo_id, expand=["safetensors", "gguf"])
    assert (shown.safetensors, shown.gguf) == (None, None)
    memory = http.get(f"/api/models/{repo_id}/memory")
    assert (memory.status_code, memory.headers.get("x-error-code")) == (404, "NotFound")
    sharded = http.get(f"/api/models/{repo_id}/safetensors-metadata/other/model.safetensors.index.json")
    assert (sharded.status_code, sharded.headers.get("x-error-code")) == (400, "MalformedWeights")
    missing = http.get(f"/api/models/{repo_id}/safetensors-metadata/model.safetensors.index.json")
    assert (missing.status_code, missing.headers.get("x-error-code")) == (404, "EntryNotFound")


def test_memory_estimate_of_a_tiny_llama(api, tiny_llama, make_repo, http: httpx.Client):
    repo_id = make_repo()
    api.upload_folder(repo_id=repo_id, folder_path=tiny_llama["sharded"])
    answer = http.get(f"/api/models/{repo_id}/memory", params={"gpu_memory_gb": "24", "context_length": "1000"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    counts = _local_counts(tiny_llama["sharded"])["parameters"]
    total = sum(counts.values())
    assert (body["source"], body["parameters"], body["storedDtypes"]) == ("safetensors", total, counts)
    # 2 layers x 2 KV heads x (16 + 16) x 2 bytes per token (head_dim = 64 / 4), for 1000 tokens.
    assert body["attention"] == {"layers": 2, "kvHeads": 4, "keyLength": 16, "valueLength": 16}
    kv_cache = 2 * 2 * (16 + 16) * 2 * 1000
    rows = {row["precision"]: row for row in body["estimates"]}
    assert list(rows) == ["stored", "bf16", "int8", "int4"]
    stored_weights = counts["BF16"] * 2 + counts["F32"] * 4
    assert rows["stored"]["weightsBytes"] == stored_weights
    assert rows["bf16"]["weightsBytes"] == total * 2
    assert rows["int4"]["weightsBytes"] == -(-total // 2)
    for row in rows.values():
        assert row["kvCacheBytes"] == kv_cache
        assert row["overheadBytes"] == -(-row["weightsBytes"] * 2 // 10)
        assert row["totalBytes"] == row["weightsBytes"] + kv_cache + row["overheadBytes"]
        assert row["fits"] is True
    # 0.0025 GiB = 2,684,354 bytes: int4 needs 1,061,024 + 1,048,576 (4096 tokens) + 212,205; int8 3,595,034.
    tiny_gpu = http.get(f"/api/models/{repo_id}/memory", params={"gpu_memory_gb": "0.0025"}).json()
    assert tiny_gpu["contextLength"] == 4096
    assert [row["fits"] for row in tiny_gpu["estimates"]] == [False, False, False, True]


@pytest.mark.parametrize(
    "params",
    [{"gpu_memory_gb": "0"}, {"gpu_memory_gb": "nan"}, {"gpu_memory_gb": "-1"}, {"context_length": "0"},
     {"context_length": "x"}, {"context_length": "9" * 40}, {"gpu_memory_gb": "inf"}],
)  # fmt: skip
def test_memory_estimate_refuses_bad_parameters(http: httpx.Client, make_repo, params):
    repo_id = make_repo()
    assert http.get(f"/api/models/{repo_id}/memory", params=params).status_code == 400


def test_weights_follow_commits_that_leave_the_card_alone(api, hub: Hub, make_repo):
    """Adding, then deleting weights changes nothing the card index reads: the weights fields still follow."""
    import torch
    from safetensors.torch import save

    repo_id = make_repo({"README.md": b"---\nlicense: mit\n---\n# A model\n"})
    assert _indexed(hub, repo_id) == (None, None)
    weights = save({"w": torch.zeros(4, 8, dtype=torch.bfloat16)})
    api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id=repo_id)
    assert _indexed(hub, repo_id) == ({"parameters": {"BF16": 32}, "total": 32}, None)
    api.delete_file("model.safetensors", repo_id=repo_id)
    assert _indexed(hub, repo_id) == (None, None)
