"""``python -m app.cli`` runs the ``stampside`` command (used to start child processes)."""

from app.cli.main import main

main()
