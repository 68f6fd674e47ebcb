"""The audit log records who did what, and the database keeps it append-only."""

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction

from smartmine import audit
from smartmine.models import AuditAction, AuditEntry

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
