"""The `maildesk` command: serve, migrate, create-user, backup, restore, check-sla, poll-imap.

Exit codes: 0 success, 2 bad usage or bad configuration (one line saying why), 1 other failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Coroutine

import click

from maildesk.config import ConfigError, Settings, ensure_secret, load_settings
from maildesk.private import UMASK

log = logging.getLogger("maildesk")


def _settings(ctx: click.Context, *, secret: bool = True) -> Settings:
    """Load and validate the settings; with `secret`, make sure a secret key exists (may write one)."""
    try:
        settings = load_settings(config_file=ctx.obj.get("config"))
        if secret:
            settings = ensure_secret(settings)
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
    # Everything maildesk creates is owner-only: the database, its
    # -wal/-shm, attachments, outgoing mail with sign-in links. private.py also sets modes.
    os.umask(UMASK)
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the SMTP listener, the web app and the workers in one process."""
    from maildesk.allocator import fix_mmap_threshold
    from maildesk.daemon import SchemaBehind, serve as run_serve
    from maildesk.runtime import Runtime

    settings = _settings(ctx)
    fix_mmap_threshold()  # process-wide, once, before any big buffer (maildesk/allocator.py)
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
    from maildesk.private import private_dir

    # No secret key here: migrate must not leave files behind (var/secret_key) when it fails,
    # and the schema does not need one.
    settings = _settings(ctx, secret=False)
    if settings.data_dir.is_dir():  # one made by hand or an older maildesk: owner-only from now on
        private_dir(settings.data_dir, tighten=True)
    try:
        before, after = run_migrate(settings.database_url)
    except Exception as exc:  # the operator needs the reason, not a traceback
        reason = " ".join(str(exc).split())[:300]
        click.echo(f"maildesk: migration failed: {type(exc).__name__}: {reason}", err=True)
        sys.exit(1)
    if before == after:
        click.echo(f"database schema already at {after}")
    else:
        click.echo(f"database schema migrated from {before or 'none'} to {after}")


MIN_PASSWORD_CHARS = 12


@main.command("create-user")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True,
              help=f"Read the password (at least {MIN_PASSWORD_CHARS} characters) from standard input.")
@click.option("--no-password", is_flag=True, help="No password: the user signs in by emailed link only.")
@click.pass_context
def create_user(ctx: click.Context, email: str, admin: bool, name: str, password_stdin: bool,
                no_password: bool) -> None:
    """Create or update a user (the password is read from standard input)."""
    from maildesk.config_values import parse_address
    from maildesk.tickets.users import set_user

    try:
        email = parse_address(email)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password exclude each other")
    if admin and not (password_stdin or no_password):
        # An admin without a password used to be created silently; make the choice explicit.
        raise click.UsageError("--admin needs --password-stdin or --no-password (sign-in by link only)")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.BadParameter("empty password on standard input", param_hint="--password-stdin")
        if len(password) < MIN_PASSWORD_CHARS:
            raise click.BadParameter(f"the password needs at least {MIN_PASSWORD_CHARS} characters",
                                     param_hint="--password-stdin")
    settings = _settings(ctx)
    created = _run(set_user(settings, email, admin=admin, name=name, password=password,
                            clear_password=no_password))
    click.echo(f"{'created' if created else 'updated'} {'admin' if admin else 'user'} {email}"
               + (" (no password: sign-in by link only)" if no_password else ""))


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, directory: Path) -> None:
    """Copy the database (SQLite), secret key and attachments into DIRECTORY (new or empty), live."""
    from maildesk.backup import BackupError, backup as run_backup

    settings = _settings(ctx, secret=False)  # a backup must not invent a secret key
    try:
        result = run_backup(settings, directory)
    except (BackupError, OSError, sqlite3.Error) as exc:
        click.echo(f"maildesk: backup failed: {exc}", err=True)
        sys.exit(1)
    for line in result.notice:
        click.echo(line)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.pass_context
def restore(ctx: click.Context, directory: Path) -> None:
    """Restore a backup into the configured (new, empty) database path and data dir."""
    from maildesk.backup import BackupError, restore as run_restore

    settings = _settings(ctx, secret=False)
    try:
        result = run_restore(settings, directory)
    except (BackupError, OSError, sqlite3.Error) as exc:
        click.echo(f"maildesk: restore failed: {exc}", err=True)
        sys.exit(1)
    tickets = f"{result.tickets} tickets, " if result.tickets is not None else ""
    click.echo(f"restored {tickets}{result.attachment_files} attachment files; {result.secret}")


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
            from maildesk.daemon import SchemaBehind, check_schema

            try:
                await check_schema(rt)
            except SchemaBehind as exc:
                click.echo(f"maildesk: {exc}", err=True)
                sys.exit(1)
            except Exception as exc:  # e.g. PostgreSQL unreachable: one line, not a traceback
                click.echo(f"maildesk: cannot use the database: {type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:300]}", err=True)
                sys.exit(1)
            escalated = await run_check(rt)
            from maildesk.outbound.sender import Sender

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
    sys.exit(_run(_poll_once(settings)))


async def _poll_once(settings: Settings) -> int:
    """`maildesk poll-imap --once`: ingest what is waiting, turn it into tickets, send the mail."""
    from maildesk.daemon import SchemaBehind, check_schema
    from maildesk.pipeline import worker as pipeline
    from maildesk.intake.imap import describe_failure, drain
    from maildesk.intake.imap_lock import mailbox_lock
    from maildesk.intake.imap_mailbox import Mailbox, mailbox_name
    from maildesk.intake.store import Intake
    from maildesk.outbound.sender import Sender
    from maildesk.runtime import Runtime

    cfg = settings.imap
    assert cfg is not None
    rt = Runtime.build(settings)
    intake = Intake(rt.db, rt.metrics)
    try:
        try:
            await check_schema(rt)
        except SchemaBehind as exc:
            click.echo(f"maildesk: {exc}", err=True)
            return 1
        except Exception as exc:
            click.echo(f"maildesk: cannot use the database: {type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:300]}", err=True)
            return 1
        try:
            async with mailbox_lock(rt.db, cfg) as lock:
                if lock is None:
                    click.echo(f"another maildesk process is polling {mailbox_name(cfg)} right now; "
                               "it ingests the waiting mail (0 messages ingested here)")
                    return 0
                mailbox = Mailbox(cfg, settings.max_message_bytes, settings.imap_after)
                try:
                    await asyncio.to_thread(mailbox.connect)
                    result = await drain(mailbox, intake, settings)
                finally:
                    await asyncio.to_thread(mailbox.close)
        except Exception as exc:
            click.echo(f"maildesk: {describe_failure(cfg, exc)}", err=True)
            return 1
        while await pipeline.run_once(rt):
            pass
        sender = Sender(rt)
        while await sender.run_once():
            pass
        extra = f" ({result.duplicates} already stored)" if result.duplicates else ""
        click.echo(f"ingested {result.ingested} message(s) from {mailbox_name(cfg)}{extra}")
        return 0
    finally:
        await intake.close()
        await rt.db.dispose()


if __name__ == "__main__":  # pragma: no cover
    main()
