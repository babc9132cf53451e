"""``stampside demo-data``: fill a database with the demo cohort (for QA and screenshots)."""

from __future__ import annotations

import click

from stampside.app.cli.errors import CliError
from stampside.app.cli.options import demo_db_option, read_settings
from stampside.app.demo_data import DemoDataError, NotADemoDatabase, seed_demo_cohort
from stampside.app.storage import StorageError, open_database
from stampside.app.storage.location import resolve_demo_database_url


@click.command()
@demo_db_option
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same cohort.")
def demo_data_command(db_url: str | None, seed: int) -> None:
    """Fill the demo's own database (or DB_URL) with a realistic demo cohort: five patients with
    full six-session courses.

    \b
    Each session is walked through the protocol's steps with stamps, lots, timers, link
    events and coverage, stored by the same code the app uses. Without --db the cohort goes
    into the demo's own database (the first line says where), never into the clinic's
    ($STAMPSIDE_DB is not used). A database that holds anything else (other patients,
    devices or practitioners) is refused: use a new file, e.g.
      stampside demo-data --db /tmp/demo.db
      stampside report cohort --db /tmp/demo.db --format html --out cohort.html
    """
    url = resolve_demo_database_url(db_url, data_folder=None if db_url else read_settings().data_folder)
    click.echo(f"demo-data: filling {'' if db_url else 'the demo database '}{url}", err=True)
    try:
        database = open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    try:
        cohort = seed_demo_cohort(database, seed=seed)
    except NotADemoDatabase as exc:
        hint = "leave out --db to fill the demo's own database" if db_url else "pass --db NEW_FILE"
        raise CliError(f"{database.description}: {exc}: {hint}") from None
    except DemoDataError as exc:
        raise CliError(f"{database.description}: {exc}") from None
    except StorageError as exc:
        raise CliError(str(exc)) from None
    finally:
        database.close()
    click.echo(
        f"added {cohort.patients} patients, {cohort.sessions} sessions and {cohort.stamps} stamps to {url}", err=True
    )
