"""The memory a model needs for inference, and whether it fits a GPU (domain/memory_estimate.py has the formula).

The weights' sizes come from the index (`repo_cards.safetensors` / `gguf`, read from file headers at each commit to
the default branch), or from the headers themselves when the index has not caught up with the branch; the
attention shape from config.json (safetensors) or the GGUF metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelyard.db.models import RepoCard
from modelyard.domain import memory_estimate
from modelyard.domain.errors import NotFound
from modelyard.domain.memory_estimate import AttentionShape, Estimate
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.services import weights_info
from modelyard.services.files import Snapshot, snapshot
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord

CONFIG_FILE = "config.json"
MAX_CONFIG_SIZE = 1024 * 1024
DEFAULT_CONTEXT_LENGTH = 4096


@dataclass(frozen=True)
class MemoryReport:
    commit: str
    source: str  # "safetensors" or "gguf": where the sizes come from
    parameters: int
    stored_dtypes: dict[str, int]  # parameters per stored dtype (GGML type for GGUF)
    attention: AttentionShape | None
    context_length: int
    gpu_memory_gb: float | None
    estimates: list[Estimate]


def estimate(hub: Hub, record: RepoRecord, context_length: int, gpu_memory_gb: float | None) -> MemoryReport:
    """Estimates for the default branch's weights; NotFound when it has no safetensors or GGUF weights."""
    snap = snapshot(hub, record, DEFAULT_BRANCH)
    safetensors, gguf = _weights(hub, snap)
    if safetensors is not None:
        parameters = safetensors["parameters"]
        stored = memory_estimate.safetensors_bytes(parameters)
        attention = memory_estimate.attention_from_config(_config(snap))
        source = "safetensors"
    elif gguf is not None:
        parameters = gguf.get("parameters", {})
        stored = memory_estimate.gguf_bytes(parameters)
        attention = memory_estimate.attention_from_gguf(gguf.get("attention", {}))
        source = "gguf"
    else:
        raise NotFound(f"{record.ref.id} has no safetensors or GGUF weights to estimate from")
    total = sum(parameters.values())
    # llama.cpp caches in f16 whatever the weights; transformers in the compute dtype
    kv_bytes: float = memory_estimate.KV_BYTES_16BIT
    if source == "safetensors":
        kv_bytes = memory_estimate.stored_kv_bytes(parameters)
    estimates = memory_estimate.estimate(total, stored, kv_bytes, attention, context_length, gpu_memory_gb)
    return MemoryReport(snap.commit, source, total, parameters, attention, context_length, gpu_memory_gb, estimates)


def _weights(hub: Hub, snap: Snapshot) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    with hub.db.session() as session:
        card = session.get(RepoCard, snap.record.pk)
        if card is not None and card.commit == snap.commit:
            return card.safetensors, card.gguf
    info = weights_info.read_weights(hub, snap)  # the index is behind the branch: read the headers now
    return info.safetensors, info.gguf


def _config(snap: Snapshot) -> dict[str, Any]:
    entry = snap.git.entry(snap.commit, CONFIG_FILE)
    if entry is None or entry.type != "file" or entry.lfs is not None or entry.size > MAX_CONFIG_SIZE:
        return {}
    try:
        config = json.loads(snap.git.read_blob(entry.oid).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return config if isinstance(config, dict) else {}
