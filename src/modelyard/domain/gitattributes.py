"""The `.gitattributes` a new repository starts with: the Hub's list of LFS-tracked patterns."""

from __future__ import annotations

from modelyard.domain.repo_ids import RepoType

_MODEL_PATTERNS = [
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
    "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
    "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
    "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*", "*.gguf",
]  # fmt: skip
_DATASET_EXTRA = [
    "*.mds", "*.lz4", "*.mp3", "*.ogg", "*.wav", "*.flac", "*.jpg", "*.jpeg", "*.png", "*.webp",
    "*.mp4", "*.webm",
]  # fmt: skip


def default_gitattributes(repo_type: RepoType) -> bytes:
    patterns = _MODEL_PATTERNS + (_DATASET_EXTRA if repo_type is RepoType.DATASET else [])
    return "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in patterns).encode()
