import pytest

from fleet.models import Loader, Truck
from plants.models import Crusher
from tests.apiclients import assert_error, role_client
from tests.factories import CrusherFactory, LoaderFactory, TruckFactory

pytestmark = pytest.mark.django_db

KINDS = [
    ("trucks", TruckFactory, Truck),
    ("loaders", LoaderFactory, Loader),
    ("crushers", CrusherFactory, Crusher),
]


@pytest.mark.parametrize(("path", "factory", "model"), KINDS)
def test_operators_send_equipment_to_maintenance_and_back(path, factory, model):
    unit = factory()
    operator = role_client("operator")

    response = operator.post(f"/api/{path}/{unit.pk}/maintenance")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "maintenance"
    assert model.objects.get(pk=unit.pk).status == "maintenance"
    assert operator.post(f"/api/{path}/{unit.pk}/maintenance/").status_code == 200  # idempotent

    back = operator.post(f"/api/{path}/{unit.pk}/return-to-service")

    assert back.status_code == 200
    assert back.json()["status"] in {"waiting", "idle"}


def test_returning_equipment_that_is_not_in_maintenance_is_a_409():
    truck = TruckFactory(status="broken_down")

    response = role_client("operator").post(f"/api/trucks/{truck.pk}/return-to-service")

    assert_error(response, 409, "conflict")
    assert Truck.objects.get(pk=truck.pk).status == "broken_down"


@pytest.mark.parametrize("role", ["viewer", "gateway"])
def test_viewers_and_gateways_cannot_change_equipment_status(role):
    truck = TruckFactory()

    assert_error(role_client(role).post(f"/api/trucks/{truck.pk}/maintenance"), 403, "permission_denied")
    assert Truck.objects.get(pk=truck.pk).status == "waiting"


def test_status_change_of_missing_equipment_is_404():
    assert_error(role_client("operator").post("/api/crushers/987654/maintenance"), 404, "not_found")


def test_a_get_on_an_action_is_a_405_in_the_error_shape():
    truck = TruckFactory()

    assert_error(
        role_client("operator").get(f"/api/trucks/{truck.pk}/maintenance"), 405, "method_not_allowed"
    )
