"""The floor every app stands on: the API framework, the live vocabulary and publishing, metrics, logging and
the audit log. It imports no app; apps import it, and the wiring (the rest of `smartmine`) imports both."""
