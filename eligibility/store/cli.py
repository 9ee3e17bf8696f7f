"""``eligibility users add NAME --role ROLE --data DIR``: create a local account (password on standard input)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EligibilityError

users_app = typer.Typer(no_args_is_help=True, help="Worksheet user accounts (stored in the data folder).")


@users_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Login name (no spaces).")],
    role: Annotated[str, typer.Option("--role", help="coordinator, investigator, reviewer or admin")],
    data: Annotated[Path, typer.Option("--data", help="The worksheet's data folder.")],
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLAlchemy URL instead of the SQLite file in --data.")
    ] = None,
) -> None:
    """Add a user; the password is read from standard input (one line), never from the command line."""
    from .db import open_store
    from .users import add_user

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            typer.echo("error: the passwords differ", err=True)
            raise typer.Exit(2)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        store = open_store(data, database_url)
        with store.session() as db:
            user = add_user(db, name, role, password)
            typer.echo(f"added {user.name} ({user.role})")
        store.close()
    except EligibilityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@users_app.command("list")
def list_cmd(
    data: Annotated[Path, typer.Option("--data", help="The worksheet's data folder.")],
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """List the accounts and their roles."""
    from sqlalchemy import select

    from .db import open_store
    from .models import User

    store = open_store(data, database_url)
    with store.session() as db:
        for u in db.scalars(select(User).order_by(User.name)):
            typer.echo(f"{u.name}\t{u.role}\t{'active' if u.active else 'disabled'}")
    store.close()
