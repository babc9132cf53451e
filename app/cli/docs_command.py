"""``stampside docs [TOPIC]``: the documentation, from the installed copy.

The Markdown files of ``docs/`` ship inside the package (``stampside/docs/``), so an installed
Stampside can show the pages its help texts point to. A terminal gets them rendered (Rich's
Markdown, through a pager when the page is longer than the screen); a pipe or a file gets the
Markdown as is, for ``grep`` or another viewer.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import click

from stampside.app.cli.errors import CliError

__all__ = ["DocPage", "docs_command", "find_page", "pages"]


@dataclass(frozen=True, slots=True)
class DocPage:
    topic: str  #: the file's name without ``.md``: ``protocol``, ``treatment-protocol``
    title: str  #: its first heading
    resource: Traversable

    def text(self) -> str:
        return self.resource.read_text(encoding="utf-8")


def docs_folder() -> Traversable:
    """The documentation as installed (in a checkout: ``stampside/docs`` links to ``docs/``)."""
    return files("stampside") / "docs"


def pages() -> list[DocPage]:
    """Every page, by topic."""
    found = []
    for entry in docs_folder().iterdir():
        if entry.is_file() and entry.name.endswith(".md"):
            first = next((line for line in entry.read_text(encoding="utf-8").splitlines() if line.strip()), "")
            found.append(DocPage(entry.name.removesuffix(".md"), first.lstrip("#").strip(), entry))
    return sorted(found, key=lambda page: page.topic)


def find_page(topic: str, available: list[DocPage]) -> DocPage:
    """The page for ``topic``: its exact name, else the one page whose name starts with it.

    Raises :class:`CliError` naming the topics there are.
    """
    wanted = topic.strip().lower().removesuffix(".md").removeprefix("docs/")
    for page in available:
        if page.topic == wanted:
            return page
    starting = [page for page in available if page.topic.startswith(wanted)] if wanted else []
    if len(starting) == 1:
        return starting[0]
    names = ", ".join(page.topic for page in available)
    if len(starting) > 1:
        raise CliError(f"'{topic}' could be {', '.join(p.topic for p in starting)}; say which (topics: {names})")
    raise CliError(f"no page on '{topic}'; the topics are: {names}")


@click.command("docs")
@click.argument("topic", required=False)
@click.option("--raw", is_flag=True, help="Print the Markdown as is, even on a terminal.")
@click.option("--path", "show_path", is_flag=True, help="Print where the page is installed, to open it in an editor.")
def docs_command(topic: str | None, raw: bool, show_path: bool) -> None:
    """Show the documentation: without TOPIC, the list of pages; with one, that page.

    \b
      stampside docs                 the pages and what each is about
      stampside docs protocol        the wire protocol (a prefix is enough: 'docs proto')
      stampside docs link --raw      the Markdown itself (a pipe always gets it)
      stampside docs app --path      the page's file
    """
    available = pages()
    if topic is None:
        if show_path:
            click.echo(str(docs_folder()))
            return
        width = max(len(page.topic) for page in available)
        for page in available:
            click.echo(f"{page.topic:<{width}}  {page.title}")
        click.echo("\nRead one with: stampside docs TOPIC")
        return
    page = find_page(topic, available)
    if show_path:
        click.echo(str(page.resource))
        return
    text = page.text()
    if raw or not sys.stdout.isatty():
        click.echo(text, nl=not text.endswith("\n"))
        return
    from rich.console import Console
    from rich.markdown import Markdown

    # less shows colours only with -R (-F: no pager for a short page; -X: the page stays on screen).
    os.environ.setdefault("LESS", "-FRX")
    console = Console()
    with console.pager(styles=True):
        console.print(Markdown(text))
