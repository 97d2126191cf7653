"""The `maildesk` command: serve, migrate, create-user, check-sla, poll-imap.

Exit codes: 0 success, 2 bad usage or bad configuration (one line saying why), 1 other failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any, Coroutine

import click

from maildesk.config import ConfigError, Settings, ensure_secret, load_settings
from maildesk.private import UMASK

log = logging.getLogger("maildesk")


def _settings(ctx: click.Context) -> Settings:
    try:
        settings = ensure_secret(load_settings(config_file=ctx.obj.get("config")))
    except ConfigError as exc:
        click.echo(f"maildesk: configuration error: {exc}", err=True)
        sys.exit(2)
    from maildesk.logs import setup

    setup(settings.log_level, settings.log_format)
    return settings


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        sys.exit(130)


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), envvar="MAILDESK_CONFIG",
              help="TOML file with the same keys as the MAILDESK_* variables, in lower case.")
@click.version_option(package_name="maildesk")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """maildesk: an email-first helpdesk daemon."""
    # Everything maildesk creates is owner-only (CONTRACT section 6): the database, its
    # -wal/-shm, attachments, outgoing mail with sign-in links. private.py also sets modes.
    os.umask(UMASK)
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the SMTP listener, the web app and the workers in one process."""
    from maildesk.daemon import SchemaBehind, serve as run_serve
    from maildesk.runtime import Runtime

    settings = _settings(ctx)
    try:
        _run(run_serve(Runtime.build(settings)))
    except SchemaBehind as exc:
        click.echo(f"maildesk: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"maildesk: cannot start: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema to the newest revision."""
    from maildesk.db import migrate as run_migrate

    settings = _settings(ctx)
    try:
        run_migrate(settings.database_url)
    except Exception as exc:  # the operator needs the reason, not a traceback
        click.echo(f"maildesk: migration failed: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    click.echo("database schema is up to date")


@main.command("create-user")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def create_user(ctx: click.Context, email: str, admin: bool, name: str, password_stdin: bool) -> None:
    """Create or update a user (the password is read from standard input)."""
    from maildesk.config import _address
    from maildesk.users import set_user

    try:
        email = _address(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.BadParameter("empty password on standard input", param_hint="--password-stdin")
    settings = _settings(ctx)
    created = _run(set_user(settings, email, admin=admin, name=name, password=password))
    click.echo(f"{'created' if created else 'updated'} {'admin' if admin else 'user'} {email}")


@main.command("check-sla")
@click.pass_context
def check_sla(ctx: click.Context) -> None:
    """Run one SLA pass and print the escalated ticket numbers."""
    from maildesk.runtime import Runtime
    from maildesk.tickets.sla import check_sla as run_check

    settings = _settings(ctx)

    async def once() -> list[str]:
        rt = Runtime.build(settings)
        try:
            from maildesk.daemon import check_schema

            await check_schema(rt)
            escalated = await run_check(rt)
            from maildesk.mail.sender import Sender

            while await Sender(rt).run_once():
                pass
            return escalated
        finally:
            await rt.db.dispose()

    for number in _run(once()):
        click.echo(number)


@main.command("poll-imap")
@click.option("--once", is_flag=True, required=True, help="Ingest what is waiting and exit.")
@click.pass_context
def poll_imap(ctx: click.Context, once: bool) -> None:
    """Ingest what is waiting in the configured IMAP folder."""
    settings = _settings(ctx)
    if settings.imap is None:
        click.echo("maildesk: configuration error: MAILDESK_IMAP_URL is not set", err=True)
        sys.exit(2)
    from maildesk.mail.imap import poll_once_cli

    sys.exit(_run(poll_once_cli(settings)))


if __name__ == "__main__":  # pragma: no cover
    main()
