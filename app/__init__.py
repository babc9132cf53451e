"""Stampside application: CLI, storage and (later) the chairside TUI."""
