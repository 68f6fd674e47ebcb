"""Time from `make run` on an empty database to a prediction for every truck, crusher and loader, and on to
the end of the bootstrap (its crusher and loader models refined on more simulated sites).

`python -m bench.bench_bootstrap [--db smartmine_bootstrap_bench] [--port 5731] [--limit-s 1200]`: drops and
creates the database, starts `manage.py runsystem` (web, the three workers, beat) on it, and polls
/api/ml/health-prediction and /api/health every 5 s, printing the model state, the bootstrap's step and
progress, the predictions against the units, and the ticks' max lag, until the bootstrap is done. Not part
of `python -m bench` (it needs its own database and minutes of the whole machine). PostgreSQL on 127.0.0.1
with trust auth, as devservices.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
UNITS = (
    "SELECT (SELECT count(*) FROM fleet_truck) + (SELECT count(*) FROM plants_crusher) + "
    "(SELECT count(*) FROM fleet_loader)"
)


def _get(port: int, path: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # a degraded /api/health answers 503 with the same body
        return json.load(error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="smartmine_bootstrap_bench")
    parser.add_argument("--port", type=int, default=5731)
    parser.add_argument("--limit-s", type=float, default=1200.0)
    args = parser.parse_args()
    subprocess.run(["dropdb", "-h", "127.0.0.1", "--if-exists", args.db], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", args.db], check=True)
    env = {
        **os.environ, "DATABASE_URL": f"postgres://127.0.0.1:5432/{args.db}",
        "INSTALLATION_ID": args.db.replace("_", "-")[:32],  # ids take no underscores
        "API_PORT": str(args.port), "WEBSOCKET_PORT": str(args.port), "API_ALLOW_ANONYMOUS_READ": "true",
        "LOG_FILE": "",
    }  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally below: stop what was started
    started = time.monotonic()
    (ROOT / "var").mkdir(exist_ok=True)
    with open(ROOT / "var" / "bench_bootstrap.log", "wb") as log:
        system = subprocess.Popen(
            [sys.executable, "manage.py", "runsystem"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    done_s, finished_s, max_lag_s, refining_lag_s = None, None, 0.0, 0.0
    try:
        while finished_s is None and time.monotonic() - started < args.limit_s:
            time.sleep(5)
            elapsed_s = time.monotonic() - started
            try:
                page = _get(args.port, "/api/ml/health-prediction?limit=500")
                health = _get(args.port, "/api/health")
            except OSError as error:
                print(f"{elapsed_s:6.0f} s  not up yet ({error})", flush=True)
                continue
            with psycopg.connect(f"postgresql://127.0.0.1:5432/{args.db}") as connection:
                units = connection.execute(UNITS).fetchone()[0]
            lag_s = ((health.get("metrics") or {}).get("ticks") or {}).get("max_lag_s") or 0.0
            max_lag_s = max(max_lag_s, lag_s)
            run = page.get("bootstrap") or {}
            print(
                f"{elapsed_s:6.0f} s  {page.get('status')}  {run.get('step')!r} {run.get('progress')}  "
                f"predictions {page['count']}/{units}  health {health.get('status')} "
                f"(models: {health['components'].get('models', {}).get('state')})  tick lag {lag_s} s",
                flush=True,
            )
            if units and page["count"] >= units and done_s is None:
                done_s = elapsed_s
            if run.get("status") == "refining":
                refining_lag_s = max(refining_lag_s, lag_s)
            if done_s is not None and run.get("status") in ("done", "failed"):
                finished_s = elapsed_s
    finally:
        os.killpg(system.pid, signal.SIGTERM)
        system.wait(60)
    print(f"every unit predicted after: {done_s} s; bootstrap done (refined) after: {finished_s} s; "
          f"largest tick lag seen: {max_lag_s} s ({refining_lag_s} s while refining)")  # fmt: skip
    return 0 if finished_s is not None else 1


if __name__ == "__main__":
    sys.exit(main())
