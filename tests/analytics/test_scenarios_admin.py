"""The Scenario admin: engineers and operators read results; engineers cancel."""

import pytest
from django.urls import reverse

from analytics.scenarios.models import Scenario
from fleet import seeding
from tests.factories import engineer, operator

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return seeding.seed_site(name="Admin pit", trucks=2, crushers=1, stockpiles=1, loaders=2).site


def test_operators_read_a_scenario_and_its_headline(client, site):
    scenario = Scenario.objects.create(
        site=site,
        name="Two more trucks",
        status="done",
        request={"seeds": 2},
        results={"difference": {"tonnes": {"pct": 12.34}}},
    )
    client.force_login(operator())

    listing = client.get(reverse("admin:analytics_scenario_changelist")).content.decode()
    page = client.get(reverse("admin:analytics_scenario_change", args=[scenario.pk]))

    assert "Two more trucks" in listing and "+12.3 % tonnes vs baseline" in listing
    assert page.status_code == 200 and "12.34" in page.content.decode()


def test_operators_cannot_cancel_from_the_list(client, site):
    queued = Scenario.objects.create(site=site, request={})
    client.force_login(operator())

    client.post(
        reverse("admin:analytics_scenario_changelist"), {"action": "cancel", "_selected_action": [queued.pk]}
    )

    assert Scenario.objects.get(pk=queued.pk).status == "queued"


def test_engineers_cancel_scenarios_from_the_list(client, site):
    queued = Scenario.objects.create(site=site, request={})
    done = Scenario.objects.create(site=site, request={}, status="done")
    client.force_login(engineer())

    response = client.post(
        reverse("admin:analytics_scenario_changelist"),
        {"action": "cancel", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )

    assert "1 scenario(s) cancelled" in response.content.decode()
    assert Scenario.objects.get(pk=queued.pk).status == "cancelled"
    assert Scenario.objects.get(pk=done.pk).status == "done"
