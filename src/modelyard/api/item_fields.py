"""The query parameters that choose what a listing item shows: `full`, `cardData`, `config` and `expand`."""

from __future__ import annotations

from fastapi import Request

from modelyard.domain.errors import BadRequest
from modelyard.domain.repo_fields import FieldRequest, listing_fields
from modelyard.domain.repo_ids import RepoType

_TRUE = ("true", "1")
_FALSE = ("false", "0", "")


def listing_field_request(request: Request, repo_type: RepoType) -> FieldRequest:
    """400 for `expand` together with `full`, `cardData` or `config`, for unknown `expand` values and non-booleans."""
    params = request.query_params
    return listing_fields(
        repo_type,
        expand=params.getlist("expand"),
        full=_flag(request, "full"),
        card_data=_flag(request, "cardData"),
        config=_flag(request, "config"),
    )


def _flag(request: Request, name: str) -> bool:
    """A boolean switch as the client sends it (`True`, from Python) or as people type it (`true`, `1`)."""
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise BadRequest(f"Invalid {name} {value[:100]!r}: expected true or false")
