"""Which file requests count as one download of a repository, as the Hub counts them (docs/popularity.md).

Models: a request for one of the repository's *query files* is a download: `config.json` (and the few other default
names) at the root, or what the model's library names instead (huggingface.js, packages/tasks/src/
model-libraries.ts, `countDownloads`). Sharded weights, tokenizers and READMEs are never counted, so one download
of a model is one count however many files it has.
Datasets: every file counts, and the visit rule (download_tally.py) makes all the files one client takes from a
repository within five minutes a single download (hub-docs, datasets-download-stats.md).
Spaces: never counted (the Hub shows no downloads for Spaces).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.domain.repo_ids import RepoType


@dataclass(frozen=True)
class Term:
    """One term of a library's query: `path` is the whole path; `filename` the last part without its extension."""

    field: str  # "path", "extension" or "filename"
    value: str

    def matches(self, path: str) -> bool:
        if self.field == "path":
            return path == self.value
        name = path.rsplit("/", 1)[-1]
        stem, dot, extension = name.rpartition(".")
        if self.field == "extension":
            return bool(dot) and extension == self.value
        return (stem if dot else name) == self.value


# A query is a list of alternatives; each alternative is the terms that must all match.
Query = tuple[tuple[Term, ...], ...]


def _any(*terms: Term) -> Query:
    return tuple((term,) for term in terms)


def path(value: str) -> Term:
    return Term("path", value)


def extension(value: str) -> Term:
    return Term("extension", value)


# The Hub's default query files, for models whose library has no query of its own.
DEFAULT_QUERY_FILES = ("config.json", "config.yaml", "hyperparams.yaml", "params.json", "meta.yaml")
DEFAULT_QUERY: Query = _any(*(path(name) for name in DEFAULT_QUERY_FILES))

# The queries of the libraries most models use (huggingface.js model-libraries.ts, `countDownloads`). diffusers has
# a query of its own there that is not published; a pipeline's `model_index.json`, or a single component's
# `config.json`, stands for it here.
LIBRARY_QUERIES: dict[str, Query] = {
    "adapter-transformers": _any(path("adapter_config.json")),
    "asteroid": _any(path("pytorch_model.bin")),
    "diffusers": _any(path("model_index.json"), path("config.json")),
    "fasttext": _any(extension("bin")),
    "flair": _any(path("pytorch_model.bin")),
    "keras": _any(path("config.json"), extension("keras")),
    "tf-keras": _any(path("saved_model.pb")),
    "ml-agents": _any(extension("onnx")),
    "mlx-image": _any(path("model.safetensors")),
    "nemo": _any(extension("nemo"), path("model_config.yaml"), extension("json")),
    "open_clip": _any(
        path("open_clip_model.safetensors"),
        path("model.safetensors"),
        path("open_clip_pytorch_model.bin"),
        path("pytorch_model.bin"),
    ),
    "paddlenlp": _any(path("model_config.json")),
    "peft": _any(path("adapter_config.json")),
}


def _terms_by_field(field: str) -> frozenset[str]:
    queries = (DEFAULT_QUERY, *LIBRARY_QUERIES.values())
    return frozenset(term.value for query in queries for terms in query for term in terms if term.field == field)


# Every value any query looks for, by field: `may_count` is a few set lookups, for the many files that never count.
_ANY_PATH, _ANY_EXTENSION, _ANY_FILENAME = (_terms_by_field(field) for field in ("path", "extension", "filename"))


def _matches(query: Query, path_in_repo: str) -> bool:
    return any(all(term.matches(path_in_repo) for term in alternative) for alternative in query)


def query_for(library: str) -> Query:
    return LIBRARY_QUERIES.get(library, DEFAULT_QUERY)


def may_count(repo_type: RepoType, path_in_repo: str) -> bool:
    """Whether a request for this path may count, whatever the model's library: the cheap test that spares reading
    the model card for every other file."""
    if repo_type is RepoType.DATASET:
        return True
    if repo_type is RepoType.SPACE:
        return False
    name = path_in_repo.rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return (
        path_in_repo in _ANY_PATH
        or (bool(dot) and extension in _ANY_EXTENSION)
        or (stem if dot else name) in _ANY_FILENAME
    )


def counts(repo_type: RepoType, library: str, path_in_repo: str) -> bool:
    """Whether a request for `path_in_repo` is a download of the repository (`library`: the model card's
    `library_name`, "" when it names none)."""
    if repo_type is RepoType.MODEL:
        return _matches(query_for(library), path_in_repo)
    return repo_type is RepoType.DATASET
