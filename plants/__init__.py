"""Plants app."""
