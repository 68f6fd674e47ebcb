"""manage.py mqtt_credentials on a real Mosquitto: gateway accounts become MQTT users held to their sites."""

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from fleet.choices import GATEWAYS_GROUP
from smartmine import mqttbroker
from smartmine.platform.mqtt import Broker, connected
from tests.factories import SiteFactory, UserFactory
from tests.processes import MOSQUITTO_PORTS, _port_taken

pytestmark = pytest.mark.django_db


def gateway_user(username: str, *site_slugs: str):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get_or_create(name=GATEWAYS_GROUP)[0])  # a flush drops migrated rows
    for slug in site_slugs:
        user.groups.add(Group.objects.get_or_create(name=f"{GATEWAYS_GROUP}/{slug}")[0])
    return user


def test_gateways_log_in_with_their_api_token_and_publish_only_for_their_sites(tmp_path, settings):
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"  # not our ingest user: its password is kept beside the files
    SiteFactory(slug="north"), SiteFactory(slug="south")
    gateway_user("gw-north", "north")
    gateway_user("gw-nowhere")
    directory = tmp_path / "mosquitto"
    out = io.StringIO()

    call_command("mqtt_credentials", dir=directory, stdout=out)

    token = Token.objects.get(user__username="gw-north").key
    assert "gw-north: publishes for north" in out.getvalue()
    assert "gw-nowhere: left out, no site" in out.getvalue()
    assert "gw-nowhere" not in (directory / "passwd").read_text()
    assert (directory / "passwd").stat().st_mode & 0o077 == 0
    port = next(port for port in MOSQUITTO_PORTS if not _port_taken(port))
    mqttbroker.start(directory, port)
    try:
        client = connected(Broker("127.0.0.1", port, "gw-north", token))
        acks = {}
        client.on_publish = lambda _c, _u, mid, reason_code, _p: acks.__setitem__(mid, reason_code)
        ours = client.publish("smartmine/north/truck/HT-1/telemetry", json.dumps({}), qos=1)
        theirs = client.publish("smartmine/south/truck/HT-1/telemetry", json.dumps({}), qos=1)
        ours.wait_for_publish(5), theirs.wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        with pytest.raises(ConnectionError, match="refused gw-north"):
            connected(Broker("127.0.0.1", port, "gw-north", "not-the-token"))
    finally:
        mqttbroker.stop(directory)
    assert not acks[ours.mid].is_failure
    assert acks[theirs.mid].getName() == "Not authorized"
