"""``stampside docs``: the pages the help texts point to, readable from any installed copy.

The wheel test (tests/packaging) runs it from an installed wheel; here: the topics, a prefix
for a topic, a wrong topic as one line, and every ``stampside docs TOPIC`` the code tells a
user to run names a page that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from stampside.app.cli.docs_command import docs_command, pages
from stampside.app.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_every_page_of_docs_is_a_topic_with_its_title() -> None:
    on_disk = sorted(path.stem for path in (ROOT / "docs").glob("*.md"))
    assert [page.topic for page in pages()] == on_disk
    listed = CliRunner().invoke(main, ["docs"])
    assert listed.exit_code == 0
    assert "protocol            Stampside wire protocol, versions 1 and 2" in listed.output
    assert "treatment-protocol  The treatment protocol file" in listed.output


def test_a_topic_prints_its_page_and_a_prefix_is_enough() -> None:
    page = CliRunner().invoke(docs_command, ["simulator"])
    assert page.exit_code == 0
    assert page.output == (ROOT / "docs" / "simulator.md").read_text()
    assert CliRunner().invoke(docs_command, ["treat"]).output.startswith("# The treatment protocol file")
    assert CliRunner().invoke(docs_command, ["link.md"]).output.startswith("# The device link")


def test_a_wrong_or_unclear_topic_is_one_line_naming_the_topics() -> None:
    wrong = CliRunner().invoke(docs_command, ["billing"])
    assert wrong.exit_code == 2
    assert wrong.output.strip().startswith("Error: no page on 'billing'; the topics are: app, audit,")
    unclear = CliRunner().invoke(docs_command, ["co"])
    assert unclear.exit_code == 2
    assert "'co' could be course, coverage; say which" in unclear.output


def test_path_names_the_installed_file() -> None:
    where = CliRunner().invoke(docs_command, ["audit", "--path"])
    assert where.exit_code == 0
    assert Path(where.output.strip()).resolve() == (ROOT / "docs" / "audit.md").resolve()


def test_every_docs_topic_the_code_mentions_exists() -> None:
    topics = {page.topic for page in pages()}
    mentioned = {}
    for folder in ("app", "devicelink", "simulator", "firmware_protocol"):
        for path in (ROOT / folder).rglob("*.py"):
            for topic in re.findall(r"stampside docs ([a-z][a-z-]*)", path.read_text()):
                mentioned[topic] = path
    assert mentioned, "the help texts point to the docs"
    assert {t: str(p) for t, p in mentioned.items() if t not in topics | {"topic"}} == {}
