"""Whole-screen views of the chairside app."""
