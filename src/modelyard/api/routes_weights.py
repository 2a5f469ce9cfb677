"""What a model's weights are: every shard's safetensors header in one answer (as the Hub serves it to
`get_sharded_safetensors_metadata`), and beyond the Hub, the memory running the model takes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from modelyard.api.raw_path import segment
from modelyard.domain import memory_estimate
from modelyard.domain.repo_ids import RepoType
from modelyard.domain.revisions import DEFAULT_BRANCH
from modelyard.frontdoor.access import repo_access
from modelyard.frontdoor.deps import get_hub
from modelyard.services import memory, weights_info
from modelyard.services.access import Action
from modelyard.services.files import snapshot
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord

router = APIRouter()


# Headers are the files' own bytes: reading them is downloading (the gate applies), as Range reads of them are.
@router.get("/api/models/{namespace}/{name}/safetensors-metadata/{path:path}")
def safetensors_metadata(
    path: str,
    record: RepoRecord = Depends(repo_access(Action.DOWNLOAD, RepoType.MODEL)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return weights_info.safetensors_headers(hub, snapshot(hub, record, DEFAULT_BRANCH), segment(path))


@router.get("/api/models/{namespace}/{name}/memory")
def memory_needed(
    context_length: int = Query(default=memory.DEFAULT_CONTEXT_LENGTH, ge=1, le=memory_estimate.MAX_CONTEXT_LENGTH),
    gpu_memory_gb: float | None = Query(default=None, gt=0, le=memory_estimate.MAX_GPU_MEMORY_GB),
    record: RepoRecord = Depends(repo_access(Action.READ, RepoType.MODEL)),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    return _report_json(record, memory.estimate(hub, record, context_length, gpu_memory_gb))


def _report_json(record: RepoRecord, report: memory.MemoryReport) -> dict[str, Any]:
    attention = report.attention
    return {
        "id": record.ref.id,
        "sha": report.commit,
        "source": report.source,
        "parameters": report.parameters,
        "storedDtypes": report.stored_dtypes,
        "contextLength": report.context_length,
        "batchSize": memory_estimate.BATCH_SIZE,
        "gpuMemoryGb": report.gpu_memory_gb,
        "overheadRatio": memory_estimate.OVERHEAD_RATIO,
        "attention": None
        if attention is None
        else {
            "layers": attention.layers,
            "kvHeads": sum(attention.kv_heads),
            "keyLength": attention.key_length,
            "valueLength": attention.value_length,
        },
        "estimates": [
            {
                "precision": row.precision,
                "weightsBytes": row.weights_bytes,
                "kvCacheBytes": row.kv_cache_bytes,
                "overheadBytes": row.overhead_bytes,
                "totalBytes": row.total_bytes,
                "totalGiB": round(row.total_bytes / memory_estimate.GIB, 2),
                "fits": row.fits,
            }
            for row in report.estimates
        ],
    }
