"""How much accelerator memory running a model for inference takes: weights + KV cache + overhead (batch 1).

The formula and its sources are in docs/memory-estimate.md. In short:
- weights: the parameter count times the bytes per parameter of the precision (the stored file's own dtypes, or
  2 for bf16, 1 for int8, 0.5 for int4);
- KV cache: for every layer, a key and a value vector per KV head per token of context,
  `context * sum over layers of kv_heads * (key_length + value_length) * bytes per element`, in 16-bit (4 bytes when the
  model runs in float32: a cache is kept in the compute dtype, and weight quantization leaves it alone);
- overhead: 20% of the weights (activations, the CUDA context, the allocator's slack), EleutherAI's rule of thumb
  that Accelerate's memory estimator quotes.
Pure: the caller reads the weights' metadata and config.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modelyard.domain.gguf_header import tensor_bytes

OVERHEAD_RATIO = 0.2
GIB = 1024**3  # GPU memory is sold in GB but counted in GiB: a "24 GB" card holds 24 GiB
KV_BYTES_16BIT = 2
MAX_CONTEXT_LENGTH = 100_000_000
MAX_GPU_MEMORY_GB = 1_000_000
BATCH_SIZE = 1

# Bytes per element of safetensors' dtypes.
SAFETENSORS_DTYPE_BYTES: dict[str, float] = {
    "F64": 8, "I64": 8, "U64": 8,
    "F32": 4, "I32": 4, "U32": 4,
    "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1,
    "F6_E2M3": 0.75, "F6_E3M2": 0.75,
    "F4": 0.5,
}  # fmt: skip
# The precisions every estimate covers besides the stored one: (name, bytes per parameter).
TARGET_PRECISIONS: tuple[tuple[str, float], ...] = (("bf16", 2), ("int8", 1), ("int4", 0.5))


@dataclass(frozen=True)
class AttentionShape:
    """What sizes the KV cache: the KV heads of each layer, and each head's key and value lengths."""

    kv_heads: tuple[int, ...]  # one per layer
    key_length: int
    value_length: int

    @property
    def layers(self) -> int:
        return len(self.kv_heads)

    def kv_cache_bytes(self, context_length: int, bytes_per_element: float, batch: int = BATCH_SIZE) -> int:
        per_token = sum(self.kv_heads) * (self.key_length + self.value_length) * bytes_per_element
        return math.ceil(per_token * context_length * batch)


@dataclass(frozen=True)
class Estimate:
    precision: str  # "stored", "bf16", "int8", "int4"
    weights_bytes: int
    kv_cache_bytes: int | None  # None: the model's attention shape is unknown
    overhead_bytes: int
    gpu_memory_bytes: int | None

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + (self.kv_cache_bytes or 0) + self.overhead_bytes

    @property
    def fits(self) -> bool | None:
        """Whether it fits the GPU asked about; None without one, or without a KV cache size."""
        if self.gpu_memory_bytes is None or self.kv_cache_bytes is None:
            return None
        return self.total_bytes <= self.gpu_memory_bytes


def estimate(
    total_parameters: int,
    stored_bytes: int | None,
    stored_kv_bytes: float,
    attention: AttentionShape | None,
    context_length: int,
    gpu_memory_gb: float | None,
) -> list[Estimate]:
    """An estimate for the stored precision (when its size is known) and for each of TARGET_PRECISIONS."""
    gpu = None if gpu_memory_gb is None else math.floor(gpu_memory_gb * GIB)
    rows: list[tuple[str, int, float]] = []
    if stored_bytes is not None:
        rows.append(("stored", stored_bytes, stored_kv_bytes))
    rows += [(name, math.ceil(total_parameters * size), KV_BYTES_16BIT) for name, size in TARGET_PRECISIONS]
    return [
        Estimate(
            precision=name,
            weights_bytes=weights,
            kv_cache_bytes=None if attention is None else attention.kv_cache_bytes(context_length, kv_bytes),
            overhead_bytes=math.ceil(weights * OVERHEAD_RATIO),
            gpu_memory_bytes=gpu,
        )
        for name, weights, kv_bytes in rows
    ]


def safetensors_bytes(parameters: dict[str, int]) -> int | None:
    """The stored size of safetensors weights (None when a dtype is unknown)."""
    if any(dtype not in SAFETENSORS_DTYPE_BYTES for dtype in parameters):
        return None
    return math.ceil(sum(count * SAFETENSORS_DTYPE_BYTES[dtype] for dtype, count in parameters.items()))


def gguf_bytes(parameters: dict[str, int]) -> int | None:
    """The stored size of GGUF weights, from GGML's block sizes (None when a type is unknown)."""
    sizes = [tensor_bytes(type_name, count) for type_name, count in parameters.items()]
    return None if any(size is None for size in sizes) else sum(s for s in sizes if s is not None)


def stored_kv_bytes(parameters: dict[str, int]) -> float:
    """A float32 model computes (and caches) in float32; anything else caches in 16-bit."""
    if parameters and max(parameters, key=lambda dtype: parameters[dtype]) in ("F32", "F64"):
        return 4
    return KV_BYTES_16BIT


def attention_from_config(config: dict[str, Any]) -> AttentionShape | None:
    """The attention shape a transformers config.json describes (its `text_config` for multimodal models)."""
    text = config.get("text_config")
    if isinstance(text, dict) and _int(config, "num_hidden_layers") is None:
        config = text
    layers = _int(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(config, "num_attention_heads", "n_head")
    kv_heads = _int(config, "num_key_value_heads") or heads
    hidden = _int(config, "hidden_size", "n_embd", "d_model")
    head_dim = _int(config, "head_dim") or (hidden // heads if hidden and heads else None)
    if not layers or not kv_heads or not head_dim:
        return None
    return AttentionShape((kv_heads,) * layers, head_dim, head_dim)


def attention_from_gguf(attention: dict[str, Any]) -> AttentionShape | None:
    """The attention shape from the `attention` part of our `gguf` field (llama.cpp's metadata keys)."""
    layers = _int(attention, "layers")
    heads = attention.get("heads")
    kv_heads = attention.get("kv_heads", heads)
    if not layers:
        return None
    per_layer = _per_layer(kv_heads, layers)
    first_heads = _per_layer(heads, layers)
    hidden = _int(attention, "hidden_size")
    default_length = hidden // max(first_heads) if hidden and first_heads and max(first_heads) else None
    key_length = _int(attention, "key_length") or default_length
    value_length = _int(attention, "value_length") or default_length
    if per_layer is None or not key_length or not value_length:
        return None
    return AttentionShape(per_layer, key_length, value_length)


def _per_layer(value: Any, layers: int) -> tuple[int, ...] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value,) * layers
    if isinstance(value, list) and len(value) == layers and all(isinstance(v, int) and v >= 0 for v in value):
        return tuple(value)
    return None


def _int(mapping: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
