"""The chairside Textual app: screens, widgets, dialogs and their styles; no domain rules here."""
