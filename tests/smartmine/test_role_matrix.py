"""Who may do what in the control room (Django admin) and on the live WebSocket, role by role.

The admin actions are read from the admin site itself, so a new action fails
`test_every_admin_action_has_a_declared_policy` until it is given a line in ACTION_POLICY. Superusers are a
control row: they may run every action, which proves each case can see the action's effect when it happens.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics.alerts.models import AlarmRule
from analytics.models import Recommendation
from analytics.scenarios.models import Scenario
from fleet.choices import ENGINEERS_GROUP, GATEWAYS_GROUP, OPERATORS_GROUP
from smartmine.asgi import application
from smartmine.platform.models import AuditEntry
from tests.apiclients import ROLES as API_ROLES
from tests.factories import (
    AlertFactory,
    CrusherFactory,
    HaulRoadFactory,
    LoaderFactory,
    MaterialFactory,
    SiteFactory,
    StockpileFactory,
    TruckFactory,
    UserFactory,
    WasteDumpFactory,
    ZoneFactory,
)

#: anonymous_demo is anonymous with API_ALLOW_ANONYMOUS_READ on (the demo setting); it must open no admin.
ROLES = ["anonymous", "anonymous_demo", "viewer", "operator", "engineer", "gateway"]
OPERATORS = frozenset({"operator", "engineer"})
ENGINEERS = frozenset({"engineer"})
NOBODY: frozenset[str] = frozenset()

#: Every model whose rows a superuser may delete from its admin page.
DELETABLE_BY_SUPERUSERS = [
    "auth.group", "auth.user", "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog",
    "django_celery_beat.clockedschedule", "django_celery_beat.crontabschedule",
    "django_celery_beat.solarschedule", "django_celery_beat.intervalschedule",
    "django_celery_beat.periodictask", "fleet.site", "fleet.miningzone", "fleet.loader", "fleet.haulroad",
    "fleet.wastedump", "fleet.truck", "plants.crusher", "stockpiles.material", "stockpiles.stockpile",
    "analytics.alert", "analytics.alarmrule", "analytics.recommendation", "analytics.scenario",
]  # fmt: skip
#: (model, action) -> the roles that may run it, as analytics/migrations/0003_roles.py and 0006 grant and
#: docs/operations.md says. Engineers change the beat schedule (0007); no group holds delete, auth or axes
#: rights: superusers only.
ACTION_POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("analytics.alert", "acknowledge"): OPERATORS,
    ("analytics.alert", "clear"): OPERATORS,
    ("analytics.recommendation", "accept"): OPERATORS,
    ("analytics.recommendation", "dismiss"): OPERATORS,
    ("fleet.truck", "send_to_maintenance"): OPERATORS,
    ("fleet.truck", "return_to_service"): OPERATORS,
    ("fleet.loader", "send_to_maintenance"): OPERATORS,
    ("fleet.loader", "return_to_service"): OPERATORS,
    ("plants.crusher", "send_to_maintenance"): OPERATORS,
    ("plants.crusher", "return_to_service"): OPERATORS,
    **{
        (label, "hand_back_to_simulator"): OPERATORS
        for label in ("fleet.truck", "fleet.loader", "plants.crusher", "stockpiles.stockpile")
    },
    ("fleet.site", "pause_simulation"): ENGINEERS,
    ("fleet.site", "resume_simulation"): ENGINEERS,
    ("analytics.scenario", "cancel"): ENGINEERS,
    ("django_celery_beat.periodictask", "enable_tasks"): ENGINEERS,
    ("django_celery_beat.periodictask", "disable_tasks"): ENGINEERS,
    ("django_celery_beat.periodictask", "toggle_tasks"): ENGINEERS,
    ("django_celery_beat.periodictask", "run_tasks"): ENGINEERS,
    ("axes.accessattempt", "cleanup_expired_attempts"): NOBODY,
    **{(label, "delete_selected"): NOBODY for label in DELETABLE_BY_SUPERUSERS},
}
#: Apps (or single models) whose admin pages each role may open; everyone else gets no admin at all.
DOMAIN_APPS = frozenset({"fleet", "plants", "stockpiles", "analytics"})
BEAT_SCHEDULE = frozenset(
    f"django_celery_beat.{model}" for model in ("periodictask", "intervalschedule", "crontabschedule")
)
PAGE_POLICY = {
    "operator": DOMAIN_APPS | {"smartmine.auditentry"},
    "engineer": DOMAIN_APPS | {"smartmine.auditentry"} | BEAT_SCHEDULE,
    "reader": DOMAIN_APPS,
}


def _may_open(role: str, label: str) -> bool:
    allowed = PAGE_POLICY.get(role, frozenset())
    return label in allowed or label.split(".")[0] in allowed


#: Where the control row's "Run selected tasks" sends its task: a queue no worker listens to, emptied after.
UNCONSUMED_QUEUE = "role-matrix-never-consumed"


def _superuser():
    return UserFactory(is_superuser=True)


def _reader():
    """May open every domain page and run nothing: operators and engineers pass every operator-level check,
    so only this row fails when one of those checks is deleted."""
    user = UserFactory()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS, codename__startswith="view_")
    )
    return user


USERS = {**API_ROLES, "anonymous_demo": lambda: None, "reader": _reader, "superuser": _superuser}
#: Two control rows beside the real roles: a reader may open the domain pages and run nothing, a superuser
#: may run everything (so every case shows it would see the action's effect).
ALL_ROWS = [*ROLES, "reader", "superuser"]


def _registered_actions() -> list[tuple[str, str]]:
    """Every action a superuser is offered on any admin page (actions nobody can run are not offered)."""
    request = RequestFactory().get("/admin/")
    request.user = UserFactory.build(is_superuser=True)
    return sorted(
        (model._meta.label_lower, name)
        for model, model_admin in admin.site._registry.items()
        for name in model_admin.get_actions(request)
    )


def _model(label: str) -> type[models.Model]:
    return next(model for model in admin.site._registry if model._meta.label_lower == label)


def _beat_task():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=17, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(
        name="Role matrix tick",
        task="fleet.tasks.tick_site_task",
        args="[0]",
        interval=every,
        queue=UNCONSUMED_QUEUE,
    )


def _access(model_label: str, **extra):
    """A failed-login record, 'expired' (two days old) so cleaning up expired attempts removes it."""
    row = _model(model_label).objects.create(
        user_agent="curl", ip_address="10.0.0.9", username="intruder", http_accept="*/*",
        path_info="/admin/login/", **extra,
    )  # fmt: skip
    type(row).objects.filter(pk=row.pk).update(attempt_time=timezone.now() - dt.timedelta(days=2))
    return row


def _recommendation() -> Recommendation:
    return Recommendation.objects.create(
        site=SiteFactory(), kind="maintenance", subject="truck:1", title="Service HT-01",
        reasoning="failure probability 0.8", expected_impact="+1,200 t",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )  # fmt: skip


def _alarm_rule() -> AlarmRule:
    """A copy of a seeded default rule (analytics/0010), under a code of its own."""
    rule = AlarmRule.objects.order_by("pk").first()
    rule.pk, rule.code = None, f"{rule.code}_copy_{AlarmRule.objects.count()}"
    rule.save()
    return rule


def _schedule(model_label: str):
    from django_celery_beat import models as beat

    return {
        "django_celery_beat.clockedschedule": lambda: beat.ClockedSchedule.objects.create(
            clocked_time=timezone.now() + dt.timedelta(days=1)
        ),
        "django_celery_beat.crontabschedule": lambda: beat.CrontabSchedule.objects.create(
            minute="17", hour="4"
        ),
        "django_celery_beat.solarschedule": lambda: beat.SolarSchedule.objects.create(
            event="sunrise", latitude=-22.3, longitude=118.6
        ),
        "django_celery_beat.intervalschedule": lambda: beat.IntervalSchedule.objects.create(
            every=19, period="minutes"
        ),
    }[model_label]()


#: One fresh object of each model with actions, the target of the action under test.
TARGETS = {
    "auth.group": lambda: Group.objects.create(name="Night shift"),
    "auth.user": lambda: UserFactory(is_staff=False),
    "axes.accessattempt": lambda: _access(
        "axes.accessattempt", get_data="", post_data="", failures_since_start=1
    ),
    "axes.accesslog": lambda: _access("axes.accesslog"),
    "axes.accessfailurelog": lambda: _access("axes.accessfailurelog"),
    "django_celery_beat.periodictask": _beat_task,
    "fleet.site": SiteFactory,
    "fleet.miningzone": ZoneFactory,
    "fleet.loader": LoaderFactory,
    "fleet.haulroad": HaulRoadFactory,
    "fleet.wastedump": WasteDumpFactory,
    "fleet.truck": TruckFactory,
    "plants.crusher": CrusherFactory,
    "stockpiles.material": MaterialFactory,
    "stockpiles.stockpile": StockpileFactory,
    "analytics.alert": AlertFactory,
    "analytics.alarmrule": _alarm_rule,
    "analytics.recommendation": _recommendation,
    "analytics.scenario": lambda: Scenario.objects.create(site=SiteFactory(), name="Two more trucks"),
}
#: The state a target needs for the action to change anything (resuming needs a paused site ...).
BEFORE_ACTION = {
    "return_to_service": {"status": "maintenance"},
    "hand_back_to_simulator": {"live": True},
    "resume_simulation": {"paused": True},
    "enable_tasks": {"enabled": False},
}


def _target(label: str, action: str) -> models.Model:
    builder = TARGETS.get(label) or (lambda: _schedule(label))
    target = builder()
    type(target).objects.filter(pk=target.pk).update(**BEFORE_ACTION.get(action, {}))
    return target


def _client_for(role: str, settings) -> Client:
    settings.API_ALLOW_ANONYMOUS_READ = role == "anonymous_demo"
    client = Client()
    user = USERS[role]()
    if user is not None:
        client.force_login(user)
    return client


def _row(target: models.Model) -> dict | None:
    return type(target).objects.filter(pk=target.pk).values().first()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hundreds of role users each hash a password; the production hasher would spend minutes on them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def unconsumed_queue():
    """Empties the queue the control row's 'Run selected tasks' fills (no worker ever reads it)."""
    yield
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete(UNCONSUMED_QUEUE)


# --- Admin actions


@pytest.mark.django_db
def test_every_admin_action_has_a_declared_policy():
    assert set(_registered_actions()) == set(ACTION_POLICY)


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "action"), sorted(ACTION_POLICY))
@pytest.mark.parametrize("role", ALL_ROWS)
def test_the_admin_action_matrix(settings, unconsumed_queue, role, label, action):
    client = _client_for(role, settings)  # first: a login makes django-axes clean up expired attempts
    target = _target(label, action)
    before, entries_before = _row(target), AuditEntry.objects.count()
    changelist = reverse(f"admin:{label.replace('.', '_')}_changelist")

    response = client.post(changelist, {"action": action, "_selected_action": [target.pk], "post": "yes"})

    after, audited = _row(target), AuditEntry.objects.count() > entries_before
    if role == "superuser" or role in ACTION_POLICY[(label, action)]:
        assert response.status_code == 302 and response["Location"] == changelist, response
        assert after != before or audited, "the action ran but changed nothing"
        if role != "superuser":
            assert audited, "operator and engineer actions are audited (docs/operations.md)"
        return
    assert (after, audited) == (before, False), "a refused action changed something"
    if _may_open(role, label):
        assert response.status_code in (200, 302) and response.get("Location", changelist) == changelist
    elif role in PAGE_POLICY:
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "action", ["enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks", "delete_selected"]
)
def test_a_reader_of_the_beat_schedule_cannot_change_it_with_actions(client, unconsumed_queue, action):
    reader = UserFactory()
    reader.user_permissions.add(Permission.objects.get(codename="view_periodictask"))
    client.force_login(reader)
    task = _target("django_celery_beat.periodictask", action)
    before = _row(task)

    url = reverse("admin:django_celery_beat_periodictask_changelist")
    response = client.post(url, {"action": action, "_selected_action": [task.pk], "post": "yes"})

    assert response.status_code == 200  # the page again: it offers no action to a reader
    assert _row(task) == before and not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_switching_beat_tasks_on_and_off_in_bulk_is_audited(admin_client, unconsumed_queue):
    task = _target("django_celery_beat.periodictask", "toggle_tasks")
    url = reverse("admin:django_celery_beat_periodictask_changelist")

    for action in ["toggle_tasks", "enable_tasks", "disable_tasks", "run_tasks"]:
        admin_client.post(url, {"action": action, "_selected_action": [task.pk]})
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [task.pk], "post": "yes"})

    details = list(
        AuditEntry.objects.filter(action="schedule_change").order_by("id").values_list("detail", flat=True)
    )
    assert details == [
        {"changed": {"enabled": "False"}},
        {"changed": {"enabled": "True"}},
        {"changed": {"enabled": "False"}},
        {"run_now": True},
        {"deleted": True},
    ]


# --- Admin pages


def _changelists() -> list[str]:
    return sorted(model._meta.label_lower for model in admin.site._registry)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROWS)
def test_the_admin_index_opens_only_for_control_room_roles(settings, role):
    response = _client_for(role, settings).get(reverse("admin:index"))

    if role in PAGE_POLICY or role == "superuser":
        assert response.status_code == 200
    else:
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
@pytest.mark.parametrize("label", _changelists())
@pytest.mark.parametrize("role", ALL_ROWS)
def test_the_admin_page_matrix(settings, role, label):
    changelist = reverse(f"admin:{label.replace('.', '_')}_changelist")

    response = _client_for(role, settings).get(changelist, follow=True)

    final_path = response.request["PATH_INFO"]
    if role == "superuser" or _may_open(role, label):
        assert (response.status_code, final_path) == (200, changelist)
    elif role in PAGE_POLICY:
        assert response.status_code == 403
    else:
        assert final_path == reverse("admin:login")


# --- The live WebSocket: read-only, so anyone signed in (as for REST reads), anonymous only in demo mode

WS_ROLES = ["viewer", "operator", "engineer", "gateway"]


@pytest.fixture
def role_groups():
    """A transactional test may start from a flushed database, without the groups the migrations made."""
    for name in (OPERATORS_GROUP, ENGINEERS_GROUP, GATEWAYS_GROUP):
        Group.objects.get_or_create(name=name)


async def _connect(*, query: str = "", headers: list | None = None):
    communicator = WebsocketCommunicator(application, f"/ws/live/{query}", headers=headers or [])
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _assert_live(communicator) -> None:
    snapshot = json.loads(await communicator.receive_from(timeout=3))
    assert snapshot["type"] == "snapshot"
    await communicator.disconnect()


@database_sync_to_async  # closes its connection: pytest-django must drop the database at the end
def _credentials(role: str, kind: str) -> dict:
    SiteFactory()
    user = USERS[role]()
    if kind == "token":
        return {"query": f"?token={Token.objects.create(user=user).key}"}
    if kind == "header":
        return {"headers": [(b"authorization", f"Token {Token.objects.create(user=user).key}".encode())]}
    browser = Client()
    browser.force_login(user)
    return {"headers": [(b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())]}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")
@pytest.mark.parametrize("kind", ["token", "header", "session"])
@pytest.mark.parametrize("role", WS_ROLES)
async def test_every_signed_in_role_may_watch_the_live_stream(settings, role, kind):
    settings.API_ALLOW_ANONYMOUS_READ = False
    communicator, connected, code = await _connect(**await _credentials(role, kind))

    assert connected, code
    await _assert_live(communicator)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("anonymous_read", [False, True])
async def test_anonymous_clients_watch_only_in_demo_mode(settings, anonymous_read):
    settings.API_ALLOW_ANONYMOUS_READ = anonymous_read
    await database_sync_to_async(SiteFactory)()

    communicator, connected, code = await _connect()

    if anonymous_read:
        assert connected
        await _assert_live(communicator)
    else:
        assert (connected, code) == (False, 4001)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")
async def test_a_token_opens_nothing_while_its_user_is_deactivated(settings):
    settings.API_ALLOW_ANONYMOUS_READ = False
    credentials = await _credentials("operator", "token")
    set_active = database_sync_to_async(lambda active: User.objects.update(is_active=active))

    await set_active(False)
    _, connected, code = await _connect(**credentials)
    assert (connected, code) == (False, 4001)

    await set_active(True)
    communicator, connected, _ = await _connect(**credentials)
    assert connected
    await _assert_live(communicator)
