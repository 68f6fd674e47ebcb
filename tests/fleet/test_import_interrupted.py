"""`import_readings` killed halfway, as a real process: SIGINT (Ctrl-C) or SIGKILL leaves nothing behind."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from fleet.csvformat import columns
from fleet.models import TruckReading
from tests.factories import SiteFactory, TruckFactory
from tests.processes import ROOT, current_database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROWS = 400_000


@pytest.fixture
def big_csv(tmp_path):
    site = SiteFactory(slug="pit")
    names = [TruckFactory(site=site, name=f"HT-{n:02d}").name for n in range(20)]
    # The import runs in its own process with the configured window of reading times kept: 28 h before now.
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=2)
    path = tmp_path / "big.csv"
    sensors = "-22.3,118.6,90,32.5,221.4,2500,92,720,2.1,31000.5,88"
    with path.open("w") as out:
        out.write(",".join(columns("truck")) + "\n")
        for i in range(ROWS):
            ts = (start + dt.timedelta(seconds=5 * (i // 20))).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            out.write(f"pit,{names[i % 20]},{ts},hauling,{sensors}\n")
    return path


def copy_in_progress() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) "
            "WHERE a.datname = %s",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0] > 0


def sigint_as_at_a_terminal() -> None:
    """In the child before exec: SIGINT at its default, as Ctrl-C finds a command run from a terminal. A test
    run started in the background of a script inherits SIGINT ignored, and so would the import."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_import_killed_while_copying_writes_nothing(big_csv, sig):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_readings", str(big_csv)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": current_database_url(), "LOG_FILE": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_as_at_a_terminal,
    )
    deadline = time.monotonic() + 60
    while not copy_in_progress():
        assert process.poll() is None, "the import ended before it could be interrupted"
        assert time.monotonic() < deadline, "the import never started copying"
        time.sleep(0.02)
    process.send_signal(sig)
    process.wait(timeout=60)
    assert process.returncode != 0
    deadline = time.monotonic() + 30
    while copy_in_progress() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not TruckReading.objects.exists()
