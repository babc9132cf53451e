"""The chairside session as plain use cases over the database (no UI): see session_cases."""
