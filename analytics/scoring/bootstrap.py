"""First models for an installation that has none: trained in the background on histories the engine
simulates headless for other seeds of a site like the one being run (docs/ml.md, "Bootstrap models").

The same path as `retrain_models` (registry.retrain_failure / retrain_anomaly: the same validation, the same
gate, artifacts hashed), under the same advisory lock, with every version marked by its provenance. All
registrations of one bootstrap are one transaction; the artifacts it wrote are removed when it fails, so a
failed bootstrap leaves no version and no file behind, and the next refresh retries it after a back-off.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from analytics.ml.history import History, keep_readings, simulate_histories
from analytics.ml.pipeline import train_in_processes
from analytics.scoring import registry
from analytics.scoring.models import BootstrapStatus, ModelBootstrap, ModelKind, ModelVersion
from fleet.models import Site, Truck
from plants.models import Crusher
from smartmine.platform import audit, locks
from smartmine.platform.models import AuditAction

logger = logging.getLogger(__name__)

#: Engine seeds of the simulated sites: apart from the default site's (7) and the benchmark's (1-6, 101-106).
SEED_BASE = 9001
#: The largest simulated site: the default one (15 trucks, 3 crushers). A bigger site is bootstrapped on
#: sites of this size, so the bootstrap's time does not grow with the fleet.
MAX_TRUCKS, MAX_CRUSHERS = 15, 3
#: Simulating processes run at this lower CPU priority, so the twin's own ticks go first.
SIMULATION_NICE = 10
#: After a failed attempt the next refresh retries once this much time has passed, doubled per attempt.
RETRY_AFTER = dt.timedelta(minutes=1)
#: A bootstrap queued or training for this long with nothing holding the lock was lost: queue it again.
LOST_AFTER = dt.timedelta(minutes=30)
#: Attempts after which it is left to an engineer (`manage.py retrain_models --bootstrap`).
MAX_ATTEMPTS = 5
#: Kinds trained on the first ML_BOOTSTRAP_TRUCK_SEEDS sites only: a site-week holds ~22 truck breakdowns
#: (~6 in validation) against ~4 crusher and ~4 loader ones, and truck training is the slowest.
TRUCK_KINDS = (ModelKind.FAILURE_TRUCK, ModelKind.ANOMALY_TRUCK)
#: Share of the progress bar the simulation takes; training each kind shares the rest.
SIMULATION_SHARE = 0.4
#: Failure kinds retrained on ML_BOOTSTRAP_REFINE_SEEDS sites once the first models are active: a site-week
#: holds ~4 crusher and ~4 loader breakdowns, so six state a failure rate that a new site does not keep
#: (calibration on 24 unseen site-weeks: docs/ml.md, "Refined bootstrap models"). Trucks (~22) need no more.
REFINED_KINDS = (ModelKind.FAILURE_CRUSHER, ModelKind.FAILURE_LOADER)


class BootstrapRunning(RuntimeError):
    """A retraining or another bootstrap holds the registry's lock."""


def missing_kinds() -> list[str]:
    """Registry kinds that have no active version."""
    active = set(ModelVersion.objects.filter(active=True).values_list("kind", flat=True))
    return [kind for kind in ModelKind.values if kind not in active]


def is_simulated(site: Site) -> bool:
    """A site the engine runs (it has engine state and trucks not fed by telemetry). A real site, live
    telemetry only, is bootstrapped only when an engineer asks for it."""
    return bool(site.sim_state) and Truck.objects.filter(site=site, live=False).exists()


def should_start(site: Site, *, now: dt.datetime | None = None) -> bool:
    """Whether the periodic refresh should queue a bootstrap for `site` now: a simulated site, some kind has
    no active model, no bootstrap queued, running or done, and a failed one has waited its back-off.
    `ML_BOOTSTRAP=false` turns the automatic bootstrap off (`retrain_models --bootstrap` still runs one)."""
    if not settings.ML_BOOTSTRAP or not is_simulated(site) or not missing_kinds():
        return False
    state = ModelBootstrap.objects.filter(site=site).first()
    if state is None:
        return not registry.retrain_running()
    now = now or timezone.now()
    if state.status in (BootstrapStatus.QUEUED, BootstrapStatus.TRAINING):
        return _lost(state, now)  # a worker killed mid-task, a message dropped
    if state.status != BootstrapStatus.FAILED or state.attempts >= MAX_ATTEMPTS:
        return False  # done (the nightly retrain takes over), or given up
    wait = RETRY_AFTER * 2 ** max(state.attempts - 1, 0)
    return now - (state.finished_at or state.queued_at) >= wait and not registry.retrain_running()


def settle_lost_refinement(site: Site, *, now: dt.datetime | None = None) -> bool:
    """Mark done a refinement whose worker was lost (nothing holds the registry's lock and LOST_AFTER has
    passed since the bootstrap began), so the dashboard stops showing it as running. Its first models stay
    active; it is not retried (`retrain_models --bootstrap` runs it again). True when one was settled."""
    state = ModelBootstrap.objects.filter(site=site, status=BootstrapStatus.REFINING).first()
    now = now or timezone.now()
    if state is None or not _lost(state, now):
        return False
    _save(state, status=BootstrapStatus.DONE, finished_at=now, progress=1.0,
          step="done; refining lost (its worker stopped): the first models stay active",
          error="refinement lost: no worker held it")  # fmt: skip
    return True


def _lost(state: ModelBootstrap, now: dt.datetime) -> bool:
    """A bootstrap still marked running that nothing runs: LOST_AFTER since it began (or was queued) and
    nothing holds the registry's lock."""
    since = state.started_at or state.queued_at
    return since is not None and now - since >= LOST_AFTER and not registry.retrain_running()


def mark_queued(site: Site) -> ModelBootstrap:
    """Record that a bootstrap of `site` is queued (the trigger checks this row before queueing another)."""
    state, _ = ModelBootstrap.objects.update_or_create(
        site=site,
        defaults={"status": BootstrapStatus.QUEUED, "queued_at": timezone.now(), "step": "queued",
                  "progress": 0.0, "error": ""},
    )  # fmt: skip
    return state


def release(site_id: int) -> None:
    """A queued bootstrap that found the lock taken (a retraining runs): back to waiting for the next try."""
    ModelBootstrap.objects.filter(site_id=site_id, status=BootstrapStatus.QUEUED).update(
        status=BootstrapStatus.FAILED,
        finished_at=timezone.now(),
        step="waiting for a running retraining",
        error="",
    )


def provenance_text(seeds: list[int], days: float) -> str:
    """What a bootstrap version learned from, in words an operator can tell from a site's own history."""
    listed = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else str(seeds)
    return f"simulated history, seeds {listed} ({days:g} days each)"


def _save(state: ModelBootstrap, *, aside: bool = False, **fields) -> None:
    """Update the bootstrap row. `aside`: from inside the registration transaction, on a connection of its
    own (autocommit), so the API shows the progress while the versions are not yet committed."""
    for name, value in fields.items():
        setattr(state, name, value)
    if not aside:
        ModelBootstrap.objects.filter(pk=state.pk).update(**fields)
        return
    columns = [ModelBootstrap._meta.get_field(name).column for name in fields]
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ModelBootstrap._meta.db_table} SET "  # column names: the model's own
                + ", ".join(f"{column} = %s" for column in columns)
                + " WHERE id = %s",
                [*fields.values(), state.pk],
            )
    finally:
        side.close()


@contextmanager
def _may_have_children() -> Iterator[None]:
    """Celery's prefork pool runs tasks in daemonic processes, and multiprocessing refuses a daemon children
    ("daemonic processes are not allowed to have children"). The simulating pool is joined before this
    returns (and its processes exit when their parent does), so the process is marked non-daemonic meanwhile.
    Its authentication key is billiard's too, which refuses to be pickled into a spawned child's start-up
    data ("Pickling an AuthenticationString object is disallowed"): the same bytes in the standard library's
    type stand in meanwhile.
    """
    config = multiprocessing.current_process()._config
    daemon, authkey = config.get("daemon"), config.get("authkey")
    config["daemon"] = False
    if authkey is not None:
        config["authkey"] = multiprocessing.process.AuthenticationString(bytes(authkey))
    try:
        yield
    finally:
        if daemon is None:
            config.pop("daemon", None)
        else:
            config["daemon"] = daemon
        if authkey is not None:
            config["authkey"] = authkey


def _artifacts() -> set[Path]:
    root = registry.model_dir() / settings.INSTALLATION_ID
    return set(root.rglob("*.skops")) if root.exists() else set()


def bootstrap(
    site_id: int,
    *,
    kinds: list[str] | None = None,
    seeds: int | None = None,
    days: float | None = None,
    actor: object = "system",
    progress: Callable[[str], None] = lambda message: None,
    ready: Callable[[], None] = lambda: None,
) -> list[registry.RetrainResult]:
    """Simulate histories of sites like `site_id`, train `kinds` (default: those with no active model) on
    them, and keep the site's bootstrap row up to date. The failure models (what predictions need) are
    registered in one transaction and `ready()` is called once it commits; the anomaly models follow in a
    second one. Then REFINED_KINDS among `kinds` are trained again on ML_BOOTSTRAP_REFINE_SEEDS sites (status
    "refining" meanwhile); a refinement that fails is logged and leaves the first models active.

    Raises BootstrapRunning while a retraining holds the registry's lock; any other error marks the row
    failed (the next refresh retries the kinds still missing) after removing the artifacts written and not
    registered, and is re-raised."""
    site = Site.objects.get(pk=site_id)
    state, _ = ModelBootstrap.objects.get_or_create(site=site, defaults={"queued_at": timezone.now()})
    with locks.session_lock(registry.RETRAIN_LOCK) as mine:
        if not mine:
            raise BootstrapRunning(
                "a retraining or bootstrap is already running: try again when it has finished"
            )
        kinds = missing_kinds() if kinds is None else kinds
        count = settings.ML_BOOTSTRAP_SEEDS if seeds is None else seeds
        days = settings.ML_BOOTSTRAP_DAYS if days is None else days
        seed_list = list(range(SEED_BASE, SEED_BASE + count))
        _save(state, status=BootstrapStatus.TRAINING, attempts=state.attempts + 1, started_at=timezone.now(),
              finished_at=None, error="", progress=0.0, seeds=seed_list, days=days,
              step=f"simulating {count} sites x {days:g} days")  # fmt: skip
        before = _artifacts()
        try:
            results, histories = _train(site, state, kinds, seed_list, days, progress, ready, actor)
        except Exception as exc:
            _remove_unregistered(before)
            _save(state, status=BootstrapStatus.FAILED, finished_at=timezone.now(),
                  step="failed", error=f"{type(exc).__name__}: {exc}"[:2000])  # fmt: skip
            raise
        done = f"done: {sum(r.promoted for r in results)} of {len(results)} models active"
        refined = [kind for kind in kinds if kind in REFINED_KINDS]
        total, error = settings.ML_BOOTSTRAP_REFINE_SEEDS, ""
        if refined and total > count:
            before = _artifacts()
            # Only what the refined kinds' features read is kept from here: 24 whole site-weeks are ~1.4 GB.
            histories = [keep_readings(h, _equipment(refined)) for h in histories]
            try:
                results += _refine(site, state, refined, results, histories, days, progress, ready, actor)
            except Exception as exc:  # the first models stay active: the twin has its predictions
                logger.exception("bootstrap refinement failed", extra={"site": site_id})
                _remove_unregistered(before)
                done, error = f"{done}; refining failed", f"{type(exc).__name__}: {exc}"[:2000]
            else:
                seed_list = list(range(SEED_BASE, SEED_BASE + total))
                done += f"; {', '.join(refined)} refined on {total} sites"
    _save(state, status=BootstrapStatus.DONE, finished_at=timezone.now(), progress=1.0, step=done,
          seeds=seed_list, error=error)  # fmt: skip
    return results


def _remove_unregistered(before: set[Path]) -> None:
    """Delete the artifacts written since `before` that no registered version holds (rolled back)."""
    registered = {registry.model_dir() / path for path in ModelVersion.objects.values_list(
        "artifact_path", flat=True)}  # fmt: skip
    for path in _artifacts() - before - registered:
        path.unlink(missing_ok=True)


def _audit(results: list[registry.RetrainResult], actor: object) -> None:
    versions = [r.version for r in results if r.version is not None]
    if versions:
        audit.record(
            actor=actor,
            action=AuditAction.RETRAIN,
            targets=versions,
            bootstrap=True,
            promoted=[v.label for v in versions if v.active],
            provenance=versions[0].provenance,
        )


def _train(
    site: Site,
    state: ModelBootstrap,
    kinds: list[str],
    seeds: list[int],
    days: float,
    progress: Callable[[str], None],
    ready: Callable[[], None],
    actor: object,
) -> tuple[list[registry.RetrainResult], list[History]]:
    started = time.perf_counter()
    trucks, crushers = _site_size(site)
    workers = settings.ML_BOOTSTRAP_WORKERS
    progress(f"simulating {len(seeds)} sites of {trucks} trucks, {crushers} crushers x {days:g} days ...")

    def simulated(done: int, total: int) -> None:
        _save(state, progress=SIMULATION_SHARE * done / total, step=f"simulated {done} of {total} sites")

    with _may_have_children():
        histories = simulate_histories(
            seeds, days, workers=workers, nice=SIMULATION_NICE, progress=simulated, trucks=trucks,
            crushers=crushers,
        )  # fmt: skip
    progress(f"simulated in {time.perf_counter() - started:.1f} s")
    simulated_at = time.perf_counter()

    def used(kind: str) -> list:
        return histories[: settings.ML_BOOTSTRAP_TRUCK_SEEDS] if kind in TRUCK_KINDS else histories

    failure = [kind for kind in kinds if kind in registry.FAILURE_KINDS]
    pretrained: dict = {}
    if workers > 1 and len(failure) > 1:
        # The failure models are what predictions wait for: trained side by side, one core each.
        _save(state, step=f"training {len(failure)} failure models in {workers} processes")
        jobs = {kind: (used(kind), registry.FAILURE_KINDS[kind]) for kind in failure}
        with _may_have_children():
            # At the worker's own priority, as training in the worker itself ran: at nice 10 on a loaded
            # machine two training processes got less CPU than one at nice 0 (bench_bootstrap, docs/ml.md).
            pretrained = train_in_processes(jobs, workers, valid_share=registry.VALID_SHARE)
        progress(f"failure models trained in {time.perf_counter() - simulated_at:.1f} s")
    results: list[registry.RetrainResult] = []
    for phase in (failure, [kind for kind in kinds if kind not in failure]):
        if not phase:
            continue
        done = []
        with transaction.atomic():  # every version of the phase, or none
            for kind in phase:
                share = SIMULATION_SHARE + (1 - SIMULATION_SHARE) * len(results) / len(kinds)
                _save(state, aside=True, step=f"training {kind}", progress=share)
                provenance = provenance_text(seeds[: len(used(kind))], days)
                if kind in registry.FAILURE_KINDS:
                    result = registry.retrain_failure(
                        kind, used(kind), provenance=provenance, trained=pretrained.get(kind)
                    )
                else:
                    result = registry.retrain_anomaly(kind, used(kind), provenance=provenance)
                results.append(result)
                done.append(result)
                outcome = "active" if result.promoted else "not active" if result.version else "skipped"
                progress(f"{kind}: {outcome} in {result.seconds:.1f} s ({result.reason})")
        _audit(done, actor)
        if any(r.promoted for r in done):
            ready()
    return results, histories


def _equipment(kinds: list[str]) -> tuple[str, ...]:
    return tuple(registry.FAILURE_KINDS[kind] for kind in kinds)


def _site_size(site: Site) -> tuple[int, int]:
    """Trucks and crushers of the simulated sites: the site's own, at most the default site's."""
    trucks = min(max(Truck.objects.filter(site=site).count(), 1), MAX_TRUCKS)
    return trucks, min(max(Crusher.objects.filter(site=site).count(), 1), MAX_CRUSHERS)


def _refine(
    site: Site,
    state: ModelBootstrap,
    kinds: list[str],
    first: list[registry.RetrainResult],
    histories: list[History],
    days: float,
    progress: Callable[[str], None],
    ready: Callable[[], None],
    actor: object,
) -> list[registry.RetrainResult]:
    """Retrain `kinds` on ML_BOOTSTRAP_REFINE_SEEDS simulated sites: the first ones again and more simulated
    now. A refined model replaces the one this bootstrap activated once it passes the gate
    (registry.retrain_failure's `extends`); against any other active model it is compared as a retraining
    is."""
    started = time.perf_counter()
    trucks, crushers = _site_size(site)
    workers, total = settings.ML_BOOTSTRAP_WORKERS, settings.ML_BOOTSTRAP_REFINE_SEEDS
    seeds = list(range(SEED_BASE, SEED_BASE + total))
    extra = seeds[len(histories) :]
    named = ", ".join(kinds)
    _save(state, status=BootstrapStatus.REFINING, progress=0.0,
          step=f"refining {named}: simulating {len(extra)} more sites")  # fmt: skip
    progress(f"refining {named} on {total} sites: simulating {len(extra)} more ...")

    def simulated(done: int, count: int) -> None:
        _save(state, progress=0.8 * done / count, step=f"refining {named}: simulated {done} of {count} sites")

    with _may_have_children():
        histories = histories + simulate_histories(
            extra, days, workers=workers, nice=SIMULATION_NICE, progress=simulated,
            readings=_equipment(kinds), trucks=trucks, crushers=crushers,
        )  # fmt: skip
    _save(state, progress=0.8, step=f"refining {named}: training on {total} sites")
    pretrained: dict = {}
    if workers > 1 and len(kinds) > 1:
        jobs = {kind: (histories, registry.FAILURE_KINDS[kind]) for kind in kinds}
        with _may_have_children():
            pretrained = train_in_processes(jobs, workers, valid_share=registry.VALID_SHARE)
    mine = {r.kind: r.version.pk for r in first if r.version is not None and r.promoted}
    results = []
    with transaction.atomic():
        for kind in kinds:
            active = ModelVersion.objects.filter(kind=kind, active=True).values_list("pk", flat=True).first()
            extends = (
                f"refines the bootstrap's first model on {total} simulated sites"
                if active is not None and active == mine.get(kind) else ""
            )  # fmt: skip
            result = registry.retrain_failure(
                kind, histories, provenance=provenance_text(seeds, days), trained=pretrained.get(kind),
                extends=extends,
            )  # fmt: skip
            results.append(result)
            outcome = "active" if result.promoted else "not active" if result.version else "skipped"
            progress(f"{kind} refined: {outcome} ({result.reason})")
    _audit(results, actor)
    progress(f"refined in {time.perf_counter() - started:.1f} s")
    if any(r.promoted for r in results):
        ready()
    return results
