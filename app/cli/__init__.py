"""The ``stampside`` command line."""
