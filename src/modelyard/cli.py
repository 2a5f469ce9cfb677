"""The `modelyard` command: serve the hub, and administer users and tokens."""

from __future__ import annotations

import os
from pathlib import Path

import click

from modelyard.config import Settings
from modelyard.domain.access_scopes import ORG_ROLES, Grant
from modelyard.domain.errors import HubError
from modelyard.private_files import restrict_new_files
from modelyard.services import orgs, users
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
def main() -> None:
    """Modelyard: a self-hosted hub for open models and datasets."""
    restrict_new_files()  # before anything is written; uvicorn workers and git inherit it


@main.command()
@click.option("--host", help="Interface to listen on [env MODELYARD_HOST, default 127.0.0.1]")
@click.option("--port", type=int, help="Port [env MODELYARD_PORT, default 8000]")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes")
@storage_options
def serve(host: str | None, port: int | None, workers: int, data_dir: Path | None, database_url: str | None) -> None:
    """Run the hub."""
    from functools import partial

    import uvicorn

    from modelyard.http_protocol import ConnectionLimits, LimitedHttpProtocol
    from modelyard.logs import log_config
    from modelyard.services import leftovers
    from modelyard.xet import CAS_PREFIX

    settings = _settings(host=host, port=port, data_dir=data_dir, database_url=database_url)
    hub = Hub.open(settings)  # create the data dir and migrate once, before any worker starts
    removed = leftovers.sweep(hub)  # once per start; only what is old enough to be no live upload's
    if removed:
        click.echo(f"Removed {removed} temp files and partial uploads left by a crash")
    # Workers rebuild the settings from the environment, so hand the effective values over.
    os.environ["MODELYARD_DATA_DIR"] = str(settings.data_dir)
    os.environ["MODELYARD_DATABASE_URL"] = settings.effective_database_url
    os.environ["MODELYARD_HOST"] = settings.host  # where the server reaches itself (LFS -> Xet conversion)
    os.environ["MODELYARD_PORT"] = str(settings.port)
    click.echo(f"Modelyard serving http://{settings.host}:{settings.port} (data in {settings.data_dir.resolve()})")
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


@main.group()
def admin() -> None:
    """Administer users and tokens."""


@admin.command("create-user")
@click.argument("name")
@click.option("--fullname", default="")
@click.option("--email", default="")
@storage_options
def create_user(name: str, fullname: str, email: str, data_dir: Path | None, database_url: str | None) -> None:
    """Create the user NAME."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    _run(lambda: users.create_user(hub, name, fullname, email))
    click.echo(f"Created user {name}. Give them a token with: modelyard admin create-token {name} --role write")


@admin.command("create-token")
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
@storage_options
def create_token(
    name: str, role: str, token_name: str, grants: tuple[str, ...], data_dir: Path | None, database_url: str | None
) -> None:
    """Create an access token for user NAME; the token is printed alone on the last line."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    parsed = _run(lambda: [Grant.parse(grant) for grant in grants])
    role = users.FINE_GRAINED if parsed else role
    token = _run(lambda: users.create_token(hub, name, role, token_name, parsed))
    click.echo(f"Created a {role} token for {name}. Use it as HF_TOKEN, or `hf auth login --token <token>`:")
    click.echo(token)


@admin.group("org")
def org() -> None:
    """Organizations and their members (roles: read, contributor, write, admin)."""


@org.command("create")
@click.argument("name")
@click.option("--admin", "first_admin", required=True, help="The user who becomes its first admin")
@click.option("--fullname", default="")
@storage_options
def org_create(name: str, first_admin: str, fullname: str, data_dir: Path | None, database_url: str | None) -> None:
    """Create the organization NAME."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    _run(lambda: orgs.create_org(hub, None, name, fullname, admin=first_admin))
    click.echo(f"Created organization {name}, with {first_admin} as its admin")


@org.command("list")
@storage_options
def org_list(data_dir: Path | None, database_url: str | None) -> None:
    """Every organization, with its number of members."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    for found, count in orgs.list_orgs(hub):
        click.echo(f"{found.name}\t{count} members")


@org.command("members")
@click.argument("name")
@storage_options
def org_members(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """The members of organization NAME with their roles."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    for member in _run(lambda: orgs.members(hub, name)):
        click.echo(f"{member.name}\t{member.role}")


@org.command("set-member")
@click.argument("name")
@click.argument("user")
@click.option("--role", type=click.Choice(ORG_ROLES), required=True)
@storage_options
def org_set_member(name: str, user: str, role: str, data_dir: Path | None, database_url: str | None) -> None:
    """Add USER to organization NAME, or change USER's role; effective on USER's next request."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    _run(lambda: orgs.set_member(hub, None, name, user, role))
    click.echo(f"{user} is now {role} in {name}")


@org.command("remove-member")
@click.argument("name")
@click.argument("user")
@storage_options
def org_remove_member(name: str, user: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove USER from organization NAME; effective on USER's next request."""
    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    _run(lambda: orgs.remove_member(hub, None, name, user))
    click.echo(f"Removed {user} from {name}")


@admin.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of one line per repository")
@storage_options
def stats(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Storage: logical bytes, stored bytes and dedup ratio, in total and per repository."""
    import json

    from modelyard.services import xet_stats

    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    data = xet_stats.report(hub)
    click.echo(json.dumps(data, indent=2) if as_json else xet_stats.format_report(data))


@admin.command("xet-evict-lfs")
@click.option("--repo", help="Only the objects of this repository: [datasets/|spaces/]namespace/name")
@click.option("--dry-run", is_flag=True, help="Only count what would be freed")
@storage_options
def xet_evict_lfs(repo: str | None, dry_run: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Delete LFS blobs that have a verified Xet copy; their downloads are then rebuilt from the xorbs."""
    from modelyard.services import xet_convert

    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    repo_pk = None
    if repo is not None:
        repo_pk = _run(lambda: xet_convert.repo_pk_of(hub, repo))
    count, freed = xet_convert.evict_converted_blobs(hub, repo_pk, dry_run)
    click.echo(f"{'Would delete' if dry_run else 'Deleted'} {count} LFS blobs, {freed} bytes")


@admin.command("fsck")
@click.option("--repo", help="Only this repository: [datasets/|spaces/]namespace/name")
@storage_options
def fsck(repo: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """Re-hash what every LFS pointer at every ref serves; one line per problem, exit status 1 if any."""
    from modelyard.services import fsck as fsck_service
    from modelyard.services import xet_convert

    hub = Hub.open(_settings(data_dir=data_dir, database_url=database_url))
    repo_pk = None if repo is None else _run(lambda: xet_convert.repo_pk_of(hub, repo))
    report = fsck_service.check(hub, repo_pk, on_problem=lambda problem: click.echo(str(problem)))
    click.echo(
        f"Checked {report.pointers} LFS pointers at {report.refs} refs of {report.repos} repositories "
        f"({report.hashed_bytes} bytes hashed): {len(report.problems)} problems"
    )
    if report.problems:
        raise SystemExit(1)


def _run(action):  # type: ignore[no-untyped-def]
    try:
        return action()
    except HubError as error:
        raise click.ClickException(error.message) from None


if __name__ == "__main__":
    main()
