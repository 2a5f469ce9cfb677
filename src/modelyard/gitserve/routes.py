"""git's smart HTTP protocol on every repository, plus the git-LFS locks API (answered: not supported).

    GET  /{prefix}{namespace}/{name}[.git]/info/refs?service=git-upload-pack|git-receive-pack
    POST /{prefix}{namespace}/{name}[.git]/git-upload-pack      clone, fetch (read access)
    POST /{prefix}{namespace}/{name}[.git]/git-receive-pack     push (write access)

Authorization is the API's (services.repos.get_repo with the service's action); the token is the password
of HTTP Basic (any user name) or a Bearer token. Where credentials are missing or wrong the answer is 401 with
`WWW-Authenticate: Basic`, which makes git ask for them; anonymous requests for private and missing
repositories get the same 401. Errors are text/plain, which git shows its user as `remote: ...` lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from modelyard.domain.errors import HubError, RepoMoved, RepoNotFound, TooManyRequests, Unauthorized
from modelyard.domain.lfs_pointer import LFS_JSON
from modelyard.domain.repo_ids import RepoType
from modelyard.frontdoor.access import OpenAction, declared
from modelyard.frontdoor.deps import bearer_token, client_of, get_hub, repo_ref
from modelyard.frontdoor.errors import header_safe, hub_error_response
from modelyard.gitserve.process import (
    FLUSH_PKT,
    GitProcessResponse,
    GitService,
    ensure_hooks,
    git_command,
    git_environment,
    hook_environment,
    is_protocol_v2,
    pkt_line,
    protocol_header,
)
from modelyard.services import push, repos, tokens
from modelyard.services.access import Action
from modelyard.services.hub import Hub
from modelyard.services.repos import RepoRecord
from modelyard.services.users import Actor

router = APIRouter()
REALM = 'Basic realm="Modelyard"'
LOCKS_UNSUPPORTED = "This server does not support Git LFS file locking."


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as git shows it to its user (text/plain bodies become `remote: ...` lines)."""
    headers = {"X-Error-Message": header_safe(message), **(headers or {})}
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def _challenge(message: str) -> Response:
    return _text(401, message, {"WWW-Authenticate": REALM})


async def _authorize(
    request: Request, hub: Hub, repo_type: RepoType, namespace: str, name: str, action: Action
) -> RepoRecord | Response:
    """The repository, if the request's credentials allow `action` on it; else the response that says why."""
    actor: Actor | None = None
    try:
        token = bearer_token(request)
        if token is not None:
            actor = await run_in_threadpool(tokens.authenticate, hub, token, client_of(request))
        ref = repo_ref(repo_type, namespace, name.removesuffix(".git"))
        return await run_in_threadpool(repos.get_repo, hub, actor, ref, action)
    except Unauthorized:
        return _challenge("Invalid credentials: use a Modelyard access token as the password")
    except (RepoMoved, TooManyRequests) as error:
        return hub_error_response(request, error)  # git follows the redirect; 429 carries Retry-After
    except HubError as error:
        if actor is None and (error.status == 403 or isinstance(error, RepoNotFound)):
            # Missing and private repositories look the same; git asks for credentials and tries again.
            return _challenge("Authentication required" if error.status == 403 else "Repository not found")
        return _text(404 if isinstance(error, RepoNotFound) else error.status, error.message)


def _info_refs(repo_type: RepoType):  # type: ignore[no-untyped-def]
    async def info_refs(
        request: Request,
        namespace: str,
        name: str,
        service: str = "",
        hub: Hub = Depends(get_hub),
        _: None = Depends(declared(OpenAction.GIT_SERVICE)),
    ) -> Response:
        try:
            git_service = GitService(service)
        except ValueError:
            return _text(403, "Only git's smart HTTP protocol is supported: use git 1.6.6 or later")
        access = await _authorize(request, hub, repo_type, namespace, name, git_service.action)
        if isinstance(access, Response):
            return access
        protocol = protocol_header(request.headers.get("git-protocol"))
        # Like `git http-backend`: the `# service=` header belongs to protocol v0 only.
        prefix = b"" if is_protocol_v2(protocol) else pkt_line(f"# service={git_service}\n") + FLUSH_PKT
        return GitProcessResponse(
            git_command(git_service, hub.git.path(access.storage_key), advertise=True),
            git_environment(protocol),
            f"application/x-{git_service}-advertisement",
            prefix=prefix,
            read_body=False,
        )

    return info_refs


def _rpc(repo_type: RepoType, git_service: GitService):  # type: ignore[no-untyped-def]
    async def rpc(
        request: Request,
        namespace: str,
        name: str,
        hub: Hub = Depends(get_hub),
        _: None = Depends(declared(git_service.action)),
    ) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type and content_type != f"application/x-{git_service}-request":
            return _text(415, f"Expected Content-Type application/x-{git_service}-request")
        access = await _authorize(request, hub, repo_type, namespace, name, git_service.action)
        if isinstance(access, Response):
            return access
        protocol = protocol_header(request.headers.get("git-protocol"))
        path = hub.git.path(access.storage_key)
        media_type = f"application/x-{git_service}-result"
        if git_service is GitService.UPLOAD_PACK:
            return GitProcessResponse(
                git_command(git_service, path, advertise=False), git_environment(protocol), media_type
            )
        hooks = await run_in_threadpool(ensure_hooks, hub.settings)
        after = await _after_push(hub, access)
        lock = await run_in_threadpool(push.writer_lock, hub, access)
        env = git_environment(protocol, hook_environment(hub.settings, access.pk, lock))
        return GitProcessResponse(
            git_command(git_service, path, advertise=False, hooks=hooks), env, media_type, after=after, lock=lock
        )

    return rpc


async def _after_push(hub: Hub, record: RepoRecord) -> Callable[[int], Awaitable[None]]:
    """Once receive-pack is done: update the index if any ref moved."""
    before = await run_in_threadpool(push.ref_snapshot, hub, record)

    async def after(returncode: int) -> None:
        if await run_in_threadpool(push.ref_snapshot, hub, record) != before:
            await run_in_threadpool(push.record_push, hub, record)

    return after


def _locks_unsupported() -> Response:
    # git-lfs takes 501 to mean "no locking here": it stops asking (for this remote) without printing anything.
    return JSONResponse({"message": LOCKS_UNSUPPORTED}, status_code=501, media_type=LFS_JSON)


async def locks(namespace: str, name: str, _: None = Depends(declared(OpenAction.PUBLIC))) -> Response:
    return _locks_unsupported()


async def unlock(namespace: str, name: str, lock_id: str, _: None = Depends(declared(OpenAction.PUBLIC))) -> Response:
    return _locks_unsupported()


# Prefixed types first, so that /datasets/... is never read as a model namespace called "datasets".
for _type in sorted(RepoType, key=lambda t: t is RepoType.MODEL):
    _repo = f"/{_type.url_prefix}{{namespace}}/{{name}}"
    router.add_api_route(f"{_repo}/info/refs", _info_refs(_type), methods=["GET"], name=f"git_info_refs_{_type}")
    for _service in GitService:
        router.add_api_route(
            f"{_repo}/{_service}", _rpc(_type, _service), methods=["POST"], name=f"git_{_service.command}_{_type}"
        )
    _locks = f"{_repo}.git/info/lfs/locks"
    router.add_api_route(_locks, locks, methods=["GET", "POST"], name=f"lfs_locks_{_type}")
    router.add_api_route(f"{_locks}/verify", locks, methods=["POST"], name=f"lfs_locks_verify_{_type}")
    router.add_api_route(f"{_locks}/{{lock_id}}/unlock", unlock, methods=["POST"], name=f"lfs_unlock_{_type}")
