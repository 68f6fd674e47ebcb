import pytest
from django.urls import reverse

from tests.factories import AlertFactory, UserFactory, operator

pytestmark = pytest.mark.django_db

URL = reverse("admin:analytics_alert_changelist")


def test_an_operator_acknowledges_alerts_from_the_list(client):
    user = operator()
    client.force_login(user)
    alert = AlertFactory()

    response = client.post(URL, {"action": "acknowledge", "_selected_action": [alert.pk]}, follow=True)

    alert.refresh_from_db()
    assert alert.acknowledged_by == user
    assert "1 alert(s) acknowledged" in response.content.decode()


def test_an_operator_clears_alerts_from_the_list(client):
    user = operator()
    client.force_login(user)
    alert = AlertFactory()

    client.post(URL, {"action": "clear", "_selected_action": [alert.pk]})

    alert.refresh_from_db()
    assert alert.cleared_by == user and alert.cleared_at is not None


def test_open_alerts_can_be_listed_on_their_own(client):
    client.force_login(operator())
    AlertFactory(message="still open")
    AlertFactory(message="long gone", cleared_at="2030-01-01T00:00Z")

    page = client.get(URL + "?state=open").content.decode()

    assert "still open" in page and "long gone" not in page


def test_staff_without_the_permission_cannot_acknowledge(client):
    client.force_login(UserFactory())
    alert = AlertFactory()

    client.post(URL, {"action": "acknowledge", "_selected_action": [alert.pk]})

    alert.refresh_from_db()
    assert alert.acknowledged_at is None
