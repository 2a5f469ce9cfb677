"""The `modelyard` command: serve the hub, and administer users and tokens."""

from __future__ import annotations

import functools
import getpass
import os
import shlex
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from modelyard import __version__
from modelyard.config import Settings
from modelyard.domain.access_scopes import ORG_ROLES, Grant
from modelyard.domain.errors import HubError
from modelyard.private_files import restrict_new_files
from modelyard.services import accounts, audit, orgs, passwords, tokens, users
from modelyard.services.hub import Hub


def _settings(**overrides: object) -> Settings:
    """Settings from MODELYARD_* variables, with the flags that were given taking precedence."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


_storage_options = [
    click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory [env MODELYARD_DATA_DIR]"),
    click.option("--database-url", help="SQLAlchemy URL; default SQLite in the data dir [env MODELYARD_DATABASE_URL]"),
]


def storage_options(function):  # type: ignore[no-untyped-def]
    for option in reversed(_storage_options):
        function = option(function)
    return function


@click.group()
@click.version_option(__version__, prog_name="modelyard")
def main() -> None:
    """Modelyard: a self-hosted hub for open models and datasets."""
    restrict_new_files()  # before anything is written; uvicorn workers and git inherit it


@main.command()
@click.option("--host", help="Interface to listen on [env MODELYARD_HOST, default 127.0.0.1]")
@click.option("--port", type=int, help="Port [env MODELYARD_PORT, default 8000]")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes")
@storage_options
def serve(host: str | None, port: int | None, workers: int, data_dir: Path | None, database_url: str | None) -> None:
    """Run the hub, and its background workers."""
    from modelyard.background import worker
    from modelyard.services import leftovers

    settings = _settings(host=host, port=port, data_dir=data_dir, database_url=database_url)
    hub = Hub.open(settings)  # create the data dir and migrate once, before any worker starts
    removed = leftovers.sweep(hub)  # once per start; only what is old enough to be no live upload's
    if removed:
        click.echo(f"Removed {removed} temp files and partial uploads left by a crash")
    # Workers rebuild the settings from the environment, so hand the effective values over.
    os.environ["MODELYARD_DATA_DIR"] = str(settings.data_dir)
    os.environ["MODELYARD_DATABASE_URL"] = settings.effective_database_url
    click.echo(f"Modelyard serving http://{settings.host}:{settings.port} (data in {settings.data_dir.resolve()})")
    if accounts.count_users(hub) == 0:
        click.echo(_first_run_advice(settings, database_url is not None))
    workers_started = worker.spawn(settings.background_workers)  # background jobs, below the serving priority
    try:
        _serve(settings, workers)
    finally:
        worker.stop(workers_started)


def _serve(settings: Settings, workers: int) -> None:
    from functools import partial

    import uvicorn

    from modelyard.http_protocol import ConnectionLimits, LimitedHttpProtocol
    from modelyard.logs import log_config
    from modelyard.xet import CAS_PREFIX

    uvicorn.run(
        "modelyard.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        log_config=log_config(CAS_PREFIX),
        timeout_keep_alive=30,
        http=partial(LimitedHttpProtocol, limits=ConnectionLimits.from_settings(settings)),  # type: ignore[arg-type]
    )


def _first_run_advice(settings: Settings, custom_database: bool) -> str:
    where = f" --data-dir {shlex.quote(str(settings.data_dir.resolve()))}"
    if custom_database:
        where += " --database-url <the same URL>"
    return (
        "This hub has no users yet. Create the first administrator and a token for them:\n"
        f"  modelyard admin create-user NAME --admin{where}\n"
        f"  modelyard admin create-token NAME --role write{where}"
    )


@main.command("worker")
@click.option("--parent-pid", type=int, hidden=True, help="Exit when this process (the serve command) is gone")
@storage_options
def worker_command(parent_pid: int | None, data_dir: Path | None, database_url: str | None) -> None:
    """Run background jobs (LFS -> Xet conversions) at the lowest priority, until stopped."""
    from modelyard.background import worker

    worker.main(_settings(data_dir=data_dir, database_url=database_url), parent_pid)


@main.group()
def admin() -> None:
    """Administer users, tokens and storage. Each command says which hub it acted on (on stderr)."""


def admin_command(name: str):  # type: ignore[no-untyped-def]
    """An `admin` subcommand that receives the hub named by --data-dir/--database-url, opened once and checked:
    a data dir that does not exist or is empty is refused without --init, so a mistyped path cannot quietly
    start a second, empty hub."""

    def decorate(function):  # type: ignore[no-untyped-def]
        @functools.wraps(function)
        def run(data_dir: Path | None, database_url: str | None, init: bool, **arguments: object) -> object:
            return function(_open_hub(_settings(data_dir=data_dir, database_url=database_url), init), **arguments)

        run = click.option("--init", is_flag=True, help="Create a new hub if the data dir is missing or empty")(run)
        return admin.command(name)(storage_options(run))

    return decorate


def _open_hub(settings: Settings, init: bool) -> Hub:
    data_dir = settings.data_dir.resolve()
    if not init and not (data_dir.is_dir() and any(data_dir.iterdir())):
        raise click.ClickException(
            f"No hub in {data_dir}: that data dir does not exist or is empty. Check --data-dir (or "
            "MODELYARD_DATA_DIR), or pass --init to create a new hub there."
        )
    hub = Hub.open(settings)
    database = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    click.echo(f"Hub: data dir {data_dir}, database {database}", err=True)
    return hub


def _cli_actor() -> str:
    """How the audit log names an administrator at the console."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (containers)
        return f"cli:uid-{os.getuid()}"


@admin_command("create-user")
@click.argument("name")
@click.option("--fullname", default="")
@click.option("--email", default="")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user a site administrator")
def create_user(hub: Hub, name: str, fullname: str, email: str, is_admin: bool) -> None:
    """Create the user NAME."""
    _run(lambda: accounts.create_user(hub, name, fullname, email, is_admin, _cli_actor()))
    role = "site administrator" if is_admin else "user"
    click.echo(f"Created {role} {name}. Give them a token with: modelyard admin create-token {name} --role write")


@admin_command("create-token")
@click.argument("name")
@click.option("--role", type=click.Choice(users.ROLES), default="read", show_default=True)
@click.option("--token-name", default="default", show_default=True, help="A label for the token")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    help="Makes a fine-grained token; repeatable: TYPE:NAME=read|write, TYPE one of user, org, model, dataset, "
    "space (e.g. org:acme=read, model:acme/bert=write)",
)
def create_token(hub: Hub, name: str, role: str, token_name: str, grants: tuple[str, ...]) -> None:
    """Create an access token for user NAME; the token is printed alone on the last line."""
    parsed = _run(lambda: [Grant.parse(grant) for grant in grants])
    role = users.FINE_GRAINED if parsed else role
    token = _run(lambda: tokens.create(hub, name, role, token_name, _cli_actor(), parsed))
    click.echo(f"Created a {role} token for {name}. Use it as HF_TOKEN, or `hf auth login --token <token>`:")
    click.echo(token)


@admin_command("org-create")
@click.argument("name")
@click.option("--admin", "first_admin", required=True, help="The user who becomes its first admin")
@click.option("--fullname", default="")
def org_create(hub: Hub, name: str, first_admin: str, fullname: str) -> None:
    """Create the organization NAME."""
    _run(lambda: orgs.create_org(hub, _cli_actor(), name, fullname, admin=first_admin))
    click.echo(f"Created organization {name}, with {first_admin} as its admin")


@admin_command("orgs")
def org_list(hub: Hub) -> None:
    """List the organizations, with their number of members."""
    for found, count in orgs.list_orgs(hub):
        click.echo(f"{found.name}\t{count} members")


@admin_command("org-members")
@click.argument("name")
def org_members(hub: Hub, name: str) -> None:
    """The members of organization NAME with their roles (read, contributor, write, admin)."""
    for member in _run(lambda: orgs.members(hub, name)):
        click.echo(f"{member.name}\t{member.role}")


@admin_command("org-set-member")
@click.argument("name")
@click.argument("user")
@click.option("--role", type=click.Choice(ORG_ROLES), required=True)
def org_set_member(hub: Hub, name: str, user: str, role: str) -> None:
    """Add USER to organization NAME, or change USER's role; effective on USER's next request."""
    _run(lambda: orgs.set_member(hub, _cli_actor(), name, user, role))
    click.echo(f"{user} is now {role} in {name}")


@admin_command("org-remove-member")
@click.argument("name")
@click.argument("user")
def org_remove_member(hub: Hub, name: str, user: str) -> None:
    """Remove USER from organization NAME; effective on USER's next request."""
    _run(lambda: orgs.remove_member(hub, _cli_actor(), name, user))
    click.echo(f"Removed {user} from {name}")


@admin_command("users")
def list_users(hub: Hub) -> None:
    """List the users: name, site administrator or not, password set or not, active tokens, created."""
    for user in accounts.list_users(hub):
        flags = ", ".join(f for f, on in (("admin", user.is_admin), ("password", user.has_password)) if on) or "-"
        click.echo(f"{user.name}\t{flags}\t{user.active_tokens} tokens\tcreated {_when(user.created_at)}")


@admin_command("make-admin")
@click.argument("name")
def make_admin(hub: Hub, name: str) -> None:
    """Make user NAME a site administrator."""
    _run(lambda: accounts.set_admin(hub, name, True, _cli_actor()))
    click.echo(f"{name} is a site administrator")


@admin_command("unmake-admin")
@click.argument("name")
def unmake_admin(hub: Hub, name: str) -> None:
    """Make user NAME an ordinary user again."""
    _run(lambda: accounts.set_admin(hub, name, False, _cli_actor()))
    click.echo(f"{name} is not a site administrator")


@admin_command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking")
def set_password(hub: Hub, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME (for the web; tokens are what the API and git use)."""
    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _run(lambda: passwords.set_password(hub, name, password, _cli_actor()))
    click.echo(f"Password set for {name}")


@admin_command("tokens")
@click.argument("name")
def list_tokens(hub: Hub, name: str) -> None:
    """List the tokens of user NAME: id, name, role, created, last used (to the minute), revoked."""
    for token in _run(lambda: tokens.list_tokens(hub, name)):
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active"
        click.echo(
            f"{token.id}\t{token.name}\t{token.role}\tcreated {_when(token.created_at)}"
            f"\tlast used {_when(token.last_used_at)}\t{state}"
        )


@admin_command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token(hub: Hub, token_id: int) -> None:
    """Revoke the token TOKEN_ID (see `tokens`): it stops working at once, with the transfer URLs it obtained."""
    token = _run(lambda: tokens.revoke(hub, token_id, _cli_actor()))
    click.echo(f"Revoked token {token.id} ({token.name}) of {token.user}")


@admin_command("audit")
@click.option("--limit", type=click.IntRange(1, audit.MAX_PAGE), default=50, show_default=True)
@click.option("--event", type=click.Choice([event.value for event in audit.Event]), help="Only this kind of event")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
def audit_log(hub: Hub, limit: int, event: str | None, as_json: bool) -> None:
    """The newest entries of the audit log first: tokens, administrators, visibility, deleted and moved repos."""
    import json

    for entry in audit.list_events(hub, limit, event=event):
        if as_json:
            click.echo(json.dumps(entry.to_json()))
        else:
            details = " ".join(f"{key}={value}" for key, value in entry.details.items())
            who = entry.actor or "(anonymous)"
            click.echo(f"{entry.id}\t{_when(entry.created_at)}\t{entry.event}\t{who}\t{entry.target}\t{details}")


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


@admin_command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of one line per repository")
def stats(hub: Hub, as_json: bool) -> None:
    """Storage (logical bytes, stored bytes, dedup ratio; in total and per repository) and background jobs."""
    import json

    from modelyard.services import xet_stats

    data = xet_stats.report(hub)
    click.echo(json.dumps(data, indent=2) if as_json else xet_stats.format_report(data))


@admin_command("xet-evict-lfs")
@click.option("--repo", help="Only the objects of this repository: [datasets/|spaces/]namespace/name")
@click.option("--dry-run", is_flag=True, help="Only count what would be freed")
def xet_evict_lfs(hub: Hub, repo: str | None, dry_run: bool) -> None:
    """Delete LFS blobs that have a verified Xet copy; their downloads are then rebuilt from the xorbs."""
    from modelyard.services import xet_convert

    repo_pk = None
    if repo is not None:
        repo_pk = _run(lambda: xet_convert.repo_pk_of(hub, repo))
    count, freed = xet_convert.evict_converted_blobs(hub, repo_pk, dry_run)
    click.echo(f"{'Would delete' if dry_run else 'Deleted'} {count} LFS blobs, {freed} bytes")


@admin_command("fsck")
@click.option("--repo", help="Only this repository: [datasets/|spaces/]namespace/name")
def fsck(hub: Hub, repo: str | None) -> None:
    """Re-hash what every LFS pointer at every ref serves; one line per problem, exit status 1 if any."""
    from modelyard.services import fsck as fsck_service
    from modelyard.services import xet_convert

    repo_pk = None if repo is None else _run(lambda: xet_convert.repo_pk_of(hub, repo))
    report = fsck_service.check(hub, repo_pk, on_problem=lambda problem: click.echo(str(problem)))
    click.echo(
        f"Checked {report.pointers} LFS pointers at {report.refs} refs of {report.repos} repositories "
        f"({report.hashed_bytes} bytes hashed): {len(report.problems)} problems"
    )
    if report.problems:
        raise SystemExit(1)


@admin_command("reindex")
@click.option("--repo", help="Only this repository: [datasets/|spaces/]namespace/name")
def reindex(hub: Hub, repo: str | None) -> None:
    """Rebuild the hub index (card metadata, tags, model tree) of every repository, or one, from git."""
    from tqdm import tqdm

    from modelyard.services import index_admin, xet_convert

    only = None if repo is None else _run(lambda: xet_convert.repo_pk_of(hub, repo))
    indexed = failed = 0
    for repo_pk in tqdm(index_admin.repo_pks(hub, only), unit="repo", desc="Indexing", disable=None):
        try:
            indexed += index_admin.reindex(hub, repo_pk)
        except Exception as error:  # one broken repository does not stop the others
            failed += 1
            click.echo(f"Repository {repo_pk}: {type(error).__name__}: {error}", err=True)
    click.echo(f"Indexed {indexed} repositories" + (f", {failed} failed" if failed else ""))
    if failed:
        raise SystemExit(1)


@admin_command("index")
@click.argument("repo")
def show_index(hub: Hub, repo: str) -> None:
    """What the hub index holds for REPO ([datasets/|spaces/]namespace/name), as JSON."""
    import json

    from modelyard.services import index_admin, xet_convert

    repo_pk = _run(lambda: xet_convert.repo_pk_of(hub, repo))
    click.echo(json.dumps(index_admin.describe(hub, repo_pk), indent=2))


def _run(action):  # type: ignore[no-untyped-def]
    try:
        return action()
    except HubError as error:
        raise click.ClickException(error.message) from None


if __name__ == "__main__":
    main()
