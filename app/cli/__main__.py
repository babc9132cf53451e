"""``python -m stampside.app.cli`` runs the ``stampside`` command (used to start child processes)."""

from stampside.app.cli.main import main

main()
