"""``python -m stampside`` runs the ``stampside`` command."""

from stampside.app.cli.main import main

main(prog_name="stampside")
