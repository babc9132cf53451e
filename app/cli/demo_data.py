"""``stampside demo-data``: fill a database with the demo cohort (for QA and screenshots)."""

from __future__ import annotations

import click

from app.cli.errors import CliError
from app.cli.options import db_option
from app.demo_data import DemoDataError, seed_demo_cohort
from app.storage import StorageError, open_database, resolve_database_url


@click.command()
@db_option
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same cohort.")
def demo_data_command(db_url: str | None, seed: int) -> None:
    """Fill DB_URL with a realistic demo cohort: five patients with full six-session courses.

    \b
    Each session is walked through the protocol's steps with stamps, lots, timers, link
    events and coverage, stored by the same code the app uses. Use an empty database:
      stampside demo-data --db /tmp/demo.db
      stampside report cohort --db /tmp/demo.db --format html --out cohort.html
    """
    url = resolve_database_url(db_url)
    try:
        database = open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    try:
        cohort = seed_demo_cohort(database, seed=seed)
    except (DemoDataError, StorageError) as exc:
        raise CliError(str(exc)) from None
    finally:
        database.close()
    click.echo(
        f"added {cohort.patients} patients, {cohort.sessions} sessions and {cohort.stamps} stamps to {url}", err=True
    )
