"""The memory estimate against numbers worked out by hand (docs/memory-estimate.md)."""

from __future__ import annotations

import pytest

from modelyard.domain import memory_estimate
from modelyard.domain.memory_estimate import AttentionShape, attention_from_config, attention_from_gguf, estimate

# Llama-2-7b: 32 layers, 32 heads (no grouped-query attention), hidden 4096 -> head_dim 128.
LLAMA2_7B_CONFIG = {"num_hidden_layers": 32, "num_attention_heads": 32, "hidden_size": 4096}
LLAMA2_7B_PARAMETERS = 6_738_415_616
# Llama-3-8B: 32 layers, 8 KV heads of 128.
LLAMA3_8B_CONFIG = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096}


def test_kv_cache_of_llama2_7b_is_half_a_mib_per_token():
    shape = attention_from_config(LLAMA2_7B_CONFIG)
    assert shape == AttentionShape((32,) * 32, 128, 128)
    # 2 (K and V) x 32 layers x 32 heads x 128 x 2 bytes = 524,288 bytes per token; x 4096 tokens = 2 GiB.
    assert shape.kv_cache_bytes(1, 2) == 524_288
    assert shape.kv_cache_bytes(4096, 2) == 2 * 1024**3


def test_grouped_query_attention_shrinks_the_cache():
    shape = attention_from_config(LLAMA3_8B_CONFIG)
    # 2 x 32 x 8 x 128 x 2 bytes = 131,072 bytes per token; x 8192 tokens = 1 GiB.
    assert shape.kv_cache_bytes(8192, 2) == 1024**3


def test_llama2_7b_in_bf16_fits_24_gib_and_int4_fits_8():
    shape = attention_from_config(LLAMA2_7B_CONFIG)
    stored = memory_estimate.safetensors_bytes({"BF16": LLAMA2_7B_PARAMETERS})
    rows = {row.precision: row for row in estimate(LLAMA2_7B_PARAMETERS, stored, 2, shape, 4096, 24)}
    bf16 = rows["bf16"]
    assert bf16.weights_bytes == rows["stored"].weights_bytes == 13_476_831_232  # 2 bytes per parameter
    assert bf16.kv_cache_bytes == 2_147_483_648
    assert bf16.overhead_bytes == 2_695_366_247  # 20% of the weights, rounded up
    assert bf16.total_bytes == 18_319_681_127  # 17.06 GiB
    assert bf16.fits is True
    int8 = rows["int8"]
    assert (int8.weights_bytes, int8.overhead_bytes) == (6_738_415_616, 1_347_683_124)
    assert int8.kv_cache_bytes == 2_147_483_648  # the cache stays 16-bit
    int4 = rows["int4"]
    assert int4.total_bytes == 3_369_207_808 + 2_147_483_648 + 673_841_562
    small = {row.precision: row.fits for row in estimate(LLAMA2_7B_PARAMETERS, stored, 2, shape, 4096, 8)}
    assert small == {"stored": False, "bf16": False, "int8": False, "int4": True}


def test_float32_weights_cache_in_float32():
    assert memory_estimate.stored_kv_bytes({"F32": 100, "I64": 1}) == 4
    assert memory_estimate.stored_kv_bytes({"BF16": 100, "F32": 10}) == 2


def test_stored_sizes_per_dtype():
    assert memory_estimate.safetensors_bytes({"BF16": 10, "F32": 3, "U8": 5, "F4": 4}) == 20 + 12 + 5 + 2
    assert memory_estimate.safetensors_bytes({"NEW_DTYPE": 1}) is None
    # Q8_0 stores blocks of 32 weights in 34 bytes; Q4_K blocks of 256 in 144.
    assert memory_estimate.gguf_bytes({"Q8_0": 64, "Q4_K": 256, "F32": 2}) == 68 + 144 + 8
    assert memory_estimate.gguf_bytes({"TYPE_999": 1}) is None


def test_without_an_attention_shape_there_is_no_cache_size_and_no_verdict():
    rows = estimate(1000, None, 2, None, 4096, 24)
    assert [row.precision for row in rows] == ["bf16", "int8", "int4"]
    assert all(row.kv_cache_bytes is None and row.fits is None for row in rows)
    assert rows[0].total_bytes == 2000 + 400


def test_without_a_gpu_there_is_no_verdict():
    rows = estimate(1000, 2000, 2, AttentionShape((1,), 2, 2), 10, None)
    assert all(row.fits is None for row in rows)
    assert rows[0].kv_cache_bytes == 1 * (2 + 2) * 2 * 10


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"n_layer": 12, "n_head": 12, "n_embd": 768}, AttentionShape((12,) * 12, 64, 64)),  # GPT-2
        ({"num_hidden_layers": 2, "num_attention_heads": 8, "head_dim": 256, "num_key_value_heads": 1,
          "hidden_size": 2048}, AttentionShape((1, 1), 256, 256)),  # Gemma: head_dim given
        ({"text_config": LLAMA3_8B_CONFIG}, AttentionShape((8,) * 32, 128, 128)),  # multimodal
        ({"num_hidden_layers": 2}, None),
        ({"num_hidden_layers": True, "num_attention_heads": 2, "hidden_size": 4}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_attention_shape_from_config(config, expected):
    assert attention_from_config(config) == expected


def test_attention_shape_from_gguf():
    assert attention_from_gguf({"layers": 2, "heads": 4, "kv_heads": 2, "hidden_size": 64}) == AttentionShape(
        (2, 2), 16, 16
    )
    shape = {"layers": 3, "heads": 4, "kv_heads": [1, 2, 3], "key_length": 8, "value_length": 4}
    per_layer = attention_from_gguf(shape)
    assert per_layer is not None and per_layer.kv_cache_bytes(1, 2) == (1 + 2 + 3) * (8 + 4) * 2
    assert attention_from_gguf({"layers": 3, "kv_heads": [1, 2]}) is None
    assert attention_from_gguf({}) is None
