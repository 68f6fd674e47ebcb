"""The audit log records who did what, and the database keeps it append-only."""

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction

from smartmine.platform import audit
from smartmine.platform.models import AuditAction, AuditEntry

pytestmark = pytest.mark.django_db


def test_an_action_is_recorded_with_its_actor_target_and_detail():
    operator = User.objects.create_user("op")
    (entry,) = audit.record(
        actor=operator, action=AuditAction.STATUS_CHANGE, targets=["truck HT-03 (#12)"], to="maintenance"
    )
    assert (entry.actor_name, entry.action, entry.target) == ("op", "status_change", "truck HT-03 (#12)")
    assert entry.detail == {"to": "maintenance"} and entry.at is not None


def test_entries_cannot_be_changed_or_deleted_even_in_sql():
    audit.record(actor="system", action=AuditAction.RETRAIN, targets=["failure model"])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.update(target="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().target == "failure model"


def test_deleting_a_user_keeps_their_entries():
    operator = User.objects.create_user("leaver")
    audit.record(actor=operator, action=AuditAction.ACKNOWLEDGE_ALERT, targets=["alert #1"])
    operator.delete()
    assert AuditEntry.objects.get().actor_name == "leaver"


def test_nobody_can_add_change_or_delete_entries_in_admin(admin_client):
    (entry,) = audit.record(actor="system", action=AuditAction.RETRAIN, targets=["failure model"])
    assert admin_client.get("/admin/smartmine/auditentry/").status_code == 200
    assert admin_client.get("/admin/smartmine/auditentry/add/").status_code == 403
    page = admin_client.get(f"/admin/smartmine/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_operator_and_engineer_actions_through_api_and_admin_are_audited(admin_client):
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from analytics.alerts.services import raise_alert
    from fleet import seeding
    from fleet.choices import OPERATORS_GROUP
    from fleet.models import Truck

    site = seeding.seed_site(name="Audit pit", trucks=2, crushers=1, stockpiles=1, loaders=2).site
    truck = Truck.objects.filter(site=site).first()
    operator = User.objects.create_user("oper")
    operator.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    client = APIClient()
    client.force_authenticate(operator)

    assert client.post(f"/api/trucks/{truck.pk}/maintenance").status_code == 200
    alert, _ = raise_alert(equipment=truck, kind="overheat", severity="warning", message="hot")
    assert client.post(f"/api/alerts/{alert.pk}/acknowledge").status_code == 200
    admin_client.post("/admin/fleet/site/", {"action": "pause_simulation", "_selected_action": [site.pk]})

    entries = list(AuditEntry.objects.order_by("id").values_list("actor_name", "action"))
    assert ("oper", "status_change") in entries and ("oper", "acknowledge_alert") in entries
    assert ("admin", "pause_site") in entries


def test_a_beat_schedule_change_in_admin_is_audited(admin_client):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name="Simulation tick: X", task="fleet.tasks.tick_site_task", interval=every
    )
    faster = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    form = admin_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert form.status_code == 200
    data = {
        "name": task.name, "regtask": "fleet.tasks.tick_site_task", "task": "", "interval": faster.pk,
        "args": "[]", "kwargs": "{}", "enabled": "on", "priority": "", "queue": "", "exchange": "",
        "routing_key": "", "headers": "{}", "description": "", "expire_seconds": "", "one_off": "",
        "start_time_0": "", "start_time_1": "", "last_run_at_0": "", "last_run_at_1": "",
    }  # fmt: skip
    response = admin_client.post(f"/admin/django_celery_beat/periodictask/{task.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(action="schedule_change")
    assert entry.actor_name == "admin" and "interval" in entry.detail["changed"]
