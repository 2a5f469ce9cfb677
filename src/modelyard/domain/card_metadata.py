"""What the Hub checks in a card's metadata: YAML that parses, the license id and the `model-index` shape.

Messages follow the Hub's (`Invalid YAML in README.md: …`, `"license" must be one of [...]`,
`"model-index[0].name" is required`), and a card without metadata gets the Hub's warning. Used by
/api/validate-yaml and by every commit and push that writes README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice
from typing import Any

from modelyard.domain.cards import front_matter
from modelyard.domain.errors import BadRequest

# The Hub's license identifiers (https://huggingface.co/docs/hub/repositories-licenses).
LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0",
    "odc-by", "odbl", "openmdw-1.0", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib",
    "pddl", "lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3",
    "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma", "unknown", "other",
)  # fmt: skip
# Problems listed in one answer: YAML aliases let a few KB of card stand for a million invalid entries, whose
# messages would make an answer of tens of MB (and hundreds of MB of memory) per request.
MAX_LISTED_ERRORS = 20
MISSING_METADATA_WARNING = (
    "empty or missing yaml metadata in repo card (https://huggingface.co/docs/hub/model-cards#model-card-metadata)"
)


def validate_card(text: str) -> list[str]:
    """The warnings for a README.md; raises BadRequest("Invalid metadata in README.md.\n- …") on errors.

    The one check of a card: /api/validate-yaml, API commits and pushes that write README.md all call it, so all
    three refuse the same cards with the same message. A metadata block that does not parse is an error, as on
    the Hub; one that is not closed is no metadata block at all (the Hub's warning).
    """
    try:
        metadata = front_matter(text)
    except BadRequest as error:
        raise _invalid([error.message]) from None
    return validate_metadata(metadata)


def validate_metadata(metadata: dict[str, Any]) -> list[str]:
    """validate_card for metadata already parsed (by `cards.front_matter`)."""
    if not metadata:
        return [MISSING_METADATA_WARNING]
    problems = chain(_license_errors(metadata.get("license")), _model_index_errors(metadata.get("model-index")))
    errors = list(islice(problems, MAX_LISTED_ERRORS + 1))
    if len(errors) > MAX_LISTED_ERRORS:
        errors[MAX_LISTED_ERRORS:] = [f"(more problems: only the first {MAX_LISTED_ERRORS} are listed)"]
    if errors:
        raise _invalid(errors)
    return []


def validate_committed_card(content: bytes) -> None:
    """Refuse a README.md that a commit or push writes unless its metadata is valid (its warnings do not matter)."""
    validate_card(content.decode("utf-8", errors="replace"))


def _invalid(errors: list[str]) -> BadRequest:
    error = BadRequest("Invalid metadata in README.md.\n" + "\n".join(f"- {message}" for message in errors))
    error.details["errors"] = [{"message": message} for message in errors]
    return error


def _license_errors(value: Any) -> Iterator[str]:
    if value is None:
        return
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item in LICENSES for item in values):
        yield f'"license" must be one of [{", ".join(LICENSES)}]'


def _model_index_errors(value: Any) -> Iterator[str]:
    """The shape huggingface_hub's `model_index_to_eval_results` reads: models with results with metrics."""
    if value is None:
        return
    if not isinstance(value, list):
        yield '"model-index" must be an array'
        return
    for i, model in enumerate(value):
        where = f"model-index[{i}]"
        if not isinstance(model, dict):
            yield f'"{where}" must be an object'
            continue
        yield from _required(model, where, "name", str)
        if not isinstance(model.get("results"), list):
            yield f'"{where}.results" must be an array'
            continue
        for j, result in enumerate(model["results"]):
            yield from _result_errors(result, f"{where}.results[{j}]")


def _result_errors(result: Any, where: str) -> Iterator[str]:
    if not isinstance(result, dict):
        yield f'"{where}" must be an object'
        return
    for key in ("task", "dataset"):
        part = result.get(key)
        if not isinstance(part, dict):
            yield f'"{where}.{key}" is required'
        else:
            yield from _required(part, f"{where}.{key}", "type", str)
            if key == "dataset":
                yield from _required(part, f"{where}.{key}", "name", str)
    metrics = result.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        yield f'"{where}.metrics" must be a non-empty array'
        return
    for k, metric in enumerate(metrics):
        if not isinstance(metric, dict):
            yield f'"{where}.metrics[{k}]" must be an object'
            continue
        yield from _required(metric, f"{where}.metrics[{k}]", "type", str)
        if "value" not in metric:
            yield f'"{where}.metrics[{k}].value" is required'


def _required(mapping: dict[str, Any], where: str, key: str, kind: type) -> list[str]:
    if key not in mapping:
        return [f'"{where}.{key}" is required']
    if not isinstance(mapping[key], kind):
        return [f'"{where}.{key}" must be a {kind.__name__}']
    return []
