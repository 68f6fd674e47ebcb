"""What every benchmark shares: Django set-up, a throw-away database, and median/min/max of repeats."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

ROOT = Path(__file__).resolve().parent.parent  # the repository


def setup_django() -> None:
    from django.apps import apps

    if not apps.ready:
        django.setup()


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def connection_url() -> str:
    """A URL for Django's current default database (a bench or test database), for child processes."""
    from django.db import connection

    db = connection.settings_dict
    credentials = f"{db['USER'] or ''}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _admin_connection(settings_dict: dict):
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        host=settings_dict.get("HOST") or None,
        port=settings_dict.get("PORT") or None,
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        autocommit=True,
    )


class BenchDatabase:
    """Points Django's default connection at a fresh `<name>_bench` database for the duration."""

    def __enter__(self) -> str:
        from django.db import connections

        self.settings_dict = connections["default"].settings_dict
        self.original = self.settings_dict["NAME"]
        self.name = f"{self.original}_bench"
        if self.name.startswith("test_") or self.name == self.original:
            raise RuntimeError(f"refusing to benchmark in {self.name!r}")
        with _admin_connection(self.settings_dict) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            admin.execute(f'CREATE DATABASE "{self.name}"')
        connections.close_all()
        self.settings_dict["NAME"] = self.name
        return self.name

    def __exit__(self, *exc) -> None:
        from django.db import connections

        connections.close_all()
        self.settings_dict["NAME"] = self.original
        with _admin_connection(self.settings_dict) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
