"""`make run`: prepare the database and demo logins, then run web, the workers and beat in the foreground."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shlex
import shutil
import signal
import sys
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from honcho.compat import ProcessManager
from honcho.manager import Manager

from analytics.scoring.tasks import start_bootstraps
from fleet.choices import ENGINEERS_GROUP, OPERATORS_GROUP
from smartmine import mqttbroker
from smartmine.config import VAR_DIR
from smartmine.management.commands.serveweb import default_endpoints
from smartmine.platform.mqtt import Broker

DEMO_LOGINS_FILE = VAR_DIR / "demo-logins"
#: The demo's logins, one per role: (username, role group or None for the superuser, what the role may do).
DEMO_LOGINS = (
    ("operator", OPERATORS_GROUP, "an operator: dispatch, maintenance, alerts"),
    ("engineer", ENGINEERS_GROUP, "an engineer: scenarios, dispatch strategy, retraining, configuration"),
    ("admin", None, "the superuser"),
)


#: The Celery workers of a running SmartMine: name -> (queues it serves, pool processes). Ticks have a worker
#: of their own, with a process per site ticking at once (a tick takes the site's row lock, so two processes
#: never tick one site; different sites tick in parallel); the other queues never make a tick wait.
WORKERS = {
    "worker-ticks": ((settings.TICK_QUEUE,), settings.TICK_CONCURRENCY),
    "worker-periodic": ((settings.PERIODIC_QUEUE,), 1),
    "worker-batch": ((settings.BATCH_QUEUE,), settings.BATCH_CONCURRENCY),
}


def worker_command(python: str, name: str, *, level: str) -> list[str]:
    """One worker's command line: its queues, its concurrency, prefetch 1 (settings), node name@host."""
    queues, concurrency = WORKERS[name]
    return [
        python, "-m", "celery", "-A", "smartmine", "worker", "-l", level, "-Q", ",".join(queues),
        "--concurrency", str(concurrency), "-n", f"{name}@%h",
    ]  # fmt: skip


def process_commands(python: str) -> dict[str, str]:
    """The processes of a running SmartMine, with their command lines: web (WEB_CONCURRENCY daphne processes
    sharing the API port and the original WebSocket port: serveweb), one worker per queue, beat,
    the MQTT telemetry ingest."""
    manage = str(settings.BASE_DIR / "manage.py")
    web = [python, manage, "serveweb"]
    web += ["--processes", str(settings.WEB_CONCURRENCY)]
    for host, port in default_endpoints():  # the same ASGI app also serves the original WS port
        web += ["--bind", f"{host}:{port}"]
    level = settings.CONFIG.log_level
    return {
        "web": shlex.join(web),
        **{name: shlex.join(worker_command(python, name, level=level)) for name in WORKERS},
        # telemetry from the MQTT broker (MQTT_URL); run more with --name 2 ... to share the load
        "mqtt-ingest": shlex.join([python, manage, "ingest_mqtt", "--name", "1"]),
        "beat": shlex.join(
            [
                python,
                "-m",
                "celery",
                "-A",
                "smartmine",
                "beat",
                "-l",
                level,
                "--pidfile",
                str(VAR_DIR / "beat.pid"),
            ]
        ),
    }


#: honcho's exit status when it stopped everything because it was told to (Ctrl-C, or SIGTERM).
STOPPED_ON_REQUEST = {130, 143}


class _SignalEachProgram(ProcessManager):
    """SIGTERM to each program, not to its whole process group as honcho does: a Celery worker then stops
    its pool itself once the running task is done (warm shutdown), instead of its pool processes being
    killed under a tick. SIGKILL, honcho's last resort after 5 s, still takes each whole group."""

    def terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def run_processes(commands: dict[str, str], *, env: dict[str, str], cwd: str) -> int:
    """Run the processes in the foreground, their output prefixed by name, until one of them stops or
    Ctrl-C (SIGINT) or SIGTERM stops them all; the exit status is 0 for a stop that was asked for, else
    that of the first process to stop."""
    manager = Manager()
    manager._procmgr = _SignalEachProgram()  # honcho 2.0 has no option for it (pinned)
    for name, command in commands.items():
        # honcho runs `sh -c COMMAND`; exec makes the program the process honcho knows and signals
        manager.add_process(name, f"exec {command}", env=env, cwd=cwd)
    manager.loop()  # SIGINT and SIGTERM: honcho sends SIGTERM to each process and waits for them
    return 0 if manager.returncode in STOPPED_ON_REQUEST else manager.returncode


class Command(BaseCommand):
    help = (
        "Migrate, seed the default site if empty, create demo logins, then run daphne, workers, beat and the "
        "MQTT ingest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--prepare-only", action="store_true", help="set everything up, start nothing")

    def handle(self, *args, prepare_only: bool = False, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.seed_default_site()
        logins = self.ensure_demo_logins()
        if Broker.from_url(settings.MQTT_URL).username == mqttbroker.INGEST_USER:
            call_command("mqtt_credentials", stdout=io.StringIO())  # our broker: gateways may log in
        self.print_banner(logins)
        if prepare_only:
            return
        queue_first_models()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROMETHEUS_MULTIPROC_DIR": str(fresh_metrics_dir())}
        sys.exit(run_processes(process_commands(sys.executable), env=env, cwd=str(settings.BASE_DIR)))

    def seed_default_site(self) -> None:
        site_model = apps.get_model("fleet", "Site")
        if not site_model.objects.exists():
            self.stdout.write("Seeding the default site ...")
            call_command("seed_site")
        from fleet.schedules import sync_tick_schedules

        sync_tick_schedules(interval_s=settings.SIMULATION_INTERVAL_S)

    def ensure_demo_logins(self) -> dict[str, str]:
        """A login per role (DEMO_LOGINS), so the demo shows what each may do; passwords random per
        checkout, kept in var/."""
        stored = _read_logins(DEMO_LOGINS_FILE)
        user_model = get_user_model()
        for username, role, _ in DEMO_LOGINS:
            password = stored.get(username) or secrets.token_urlsafe(12)
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": role is None}
            )
            if created or not user.check_password(password):
                user.set_password(password)
                user.save()
            if role is not None:
                group = Group.objects.filter(name=role).first()
                if group:
                    user.groups.add(group)
            stored[username] = password
        DEMO_LOGINS_FILE.write_text("".join(f"{name}={password}\n" for name, password in stored.items()))
        DEMO_LOGINS_FILE.chmod(0o600)
        return stored

    def print_banner(self, logins: dict[str, str]) -> None:
        api = f"http://{settings.API_HOST}:{settings.API_PORT}"
        lines = [
            "",
            "SmartMine is starting:",
            f"  dashboard     {api}/",
            f"  admin         {api}/admin/",
            f"  API           {api}/api/health   {api}/api/docs/",
            f"  WebSocket     ws://{settings.WEBSOCKET_HOST}:{settings.WEBSOCKET_PORT}/",
            f"  MQTT          {Broker.from_url(settings.MQTT_URL).where}  (docs/telemetry.md)",
            "  demo logins   (dashboard and admin)",
            *(f"    {name:<9} {logins[name]:<17} {role}" for name, _, role in DEMO_LOGINS),
            "  Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))


def queue_first_models() -> list[int]:
    """Queue the bootstrap of the first models now, so the batch worker starts on it as soon as it is up,
    instead of at the periodic refresh's first run a minute or more later (docs/ml.md, "Bootstrap models").
    The same check as the refresh: nothing is queued when every kind has a model or one is on its way."""
    site_model = apps.get_model("fleet", "Site")
    return start_bootstraps(list(site_model.objects.filter(paused=False).values_list("pk", flat=True)))


def fresh_metrics_dir() -> Path:
    """One directory where web, worker and beat write their metrics; emptied at start (old pids are gone)."""
    path = VAR_DIR / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _read_logins(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)
