"""Domain errors. Services raise these; `frontdoor.errors` maps each to the Hub's HTTP contract."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error a user can cause. `code` becomes the `X-Error-Code` header.

    The Hub's clients act on RepoNotFound, RevisionNotFound, EntryNotFound and GatedRepo; the other codes
    only name the failure, so that every 401/403/404/409/412/416 answer carries one (a stable thing to match
    on for scripts and logs).
    """

    status = 400
    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # Extra fields of the JSON error body, for clients that read more than the message.
        self.details: dict[str, object] = {}


class BadRequest(HubError):
    status = 400


class InvalidName(BadRequest):
    pass


class MalformedWeights(BadRequest):
    """A weights file whose header does not parse as its format says (safetensors, GGUF)."""

    code = "MalformedWeights"


class InvalidPath(BadRequest):
    pass


class Unauthorized(HubError):
    """A token was sent but is not valid."""

    status = 401
    code = "Unauthorized"


class Forbidden(HubError):
    status = 403
    code = "Forbidden"


class GatedRepo(Forbidden):
    """The files of a gated repository, for someone whose access was not granted: 403, or 401 when anonymous."""

    code = "GatedRepo"


class UrlRefused(HubError):
    """A signed URL that is invalid, expired, or used beyond what it grants.

    Always 403, also without credentials: such URLs never carry any, and hf_xet asks for fresh ones on a 403.
    """

    status = 403
    code = "Forbidden"


class RepoNotFound(HubError):
    status = 404
    code = "RepoNotFound"

    def __init__(self, message: str = "Repository not found") -> None:
        super().__init__(message)


class RevisionNotFound(HubError):
    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubError):
    status = 404
    code = "EntryNotFound"

    def __init__(self, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.commit = commit


class NotFound(HubError):
    status = 404
    code = "NotFound"


class Conflict(HubError):
    status = 409
    code = "Conflict"


class StaleParent(HubError):
    """The commit's parentCommit is not the branch head any more."""

    status = 412
    code = "PreconditionFailed"


class RepositoryBusy(HubError):
    """Another writer held the repository for longer than a request may wait: retry shortly."""

    status = 503


class TooLarge(HubError):
    status = 413


class TooManyRequests(HubError):
    """Too many failed authentications from one client address or for one account: wait `retry_after` seconds."""

    status = 429
    code = "TooManyRequests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RangeNotSatisfiable(HubError):
    status = 416
    code = "RangeNotSatisfiable"

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class RepoMoved(HubError):
    """The repo was renamed: answered with a redirect to its new name."""

    status = 307

    def __init__(self, old_id: str, new_id: str) -> None:
        super().__init__(f"Repository moved to {new_id}")
        self.old_id = old_id
        self.new_id = new_id
