"""Modal dialogs of the chairside app; each returns its result through ``dismiss()``."""
