"""Widgets of the chairside app: they format what they are given, and hold no domain rules."""
