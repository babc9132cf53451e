"""Entry point of the ``stampside`` console script."""

from __future__ import annotations

import click

from app.cli.app_command import app_command
from app.cli.demo import demo_command
from app.cli.demo_data import demo_data_command
from app.cli.export import export_command
from app.cli.link import link_group
from app.cli.protocol import protocol_group
from app.cli.report import report_group
from simulator.cli import sim_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="stampside")
def main() -> None:
    """Stampside: chairside companion for a connected microneedling derma stamp.

    \b
    Quick tour:
      stampside demo                      simulator + live link view, on a local database
      stampside sim --pty /tmp/stamp      a simulated stamp on a pty (see --help for faults)
      stampside link monitor /tmp/stamp   decoded frames, both directions
      stampside link record URL --db URL  headless collector (what QA scripts use)
      stampside export --db URL           stored stamps as JSONL or CSV
      stampside protocol show             the treatment protocol's steps
      stampside report session ID         a session report (HTML, JSON or CSV)
      stampside demo-data --db URL        a demo cohort for QA and screenshots
    """


main.add_command(sim_command, "sim")
main.add_command(link_group, "link")
main.add_command(export_command, "export")
main.add_command(demo_command, "demo")
main.add_command(protocol_group, "protocol")
main.add_command(app_command, "app")
main.add_command(report_group, "report")
main.add_command(demo_data_command, "demo-data")
