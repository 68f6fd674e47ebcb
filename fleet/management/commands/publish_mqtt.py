"""manage.py publish_mqtt: a site's equipment publishing telemetry to the MQTT broker, as real gateways would.

A device simulator for demonstrations and benchmarks without real equipment: it runs the engine on a copy
of the site's state at wall-clock pace and publishes every unit's reading each step, QoS 1, on
`smartmine/<site>/<kind>/<name>/telemetry` (docs/telemetry.md). It writes nothing itself: the ingest
process stores what arrives, and the units it speaks for become live (the tick then leaves them alone).
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework.authtoken.models import Token

from fleet import units
from fleet.models import Site
from fleet.mqttformat import ROOT
from fleet.sim import step
from fleet.ticking import dispatcher_for, load_state
from smartmine.platform.mqtt import Broker, connected


class Command(BaseCommand):
    help = (
        "Publish a site's simulated equipment readings to the MQTT broker (MQTT_URL), as its gateways would."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site", required=True, help="site slug")
        parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between readings of a unit")
        parser.add_argument(
            "--gateway",
            help="publish as this gateway account (its API token is its MQTT password); "
            "default: MQTT_URL's user",
        )

    def handle(self, *args, site: str, seconds: float, interval: float, gateway: str | None, **_) -> None:
        site_row = Site.objects.filter(slug=site).first()
        if site_row is None:
            raise CommandError(f"--site: no site with slug {site!r}")
        if interval <= 0:
            raise CommandError("--interval must be above 0")
        broker = Broker.from_url(settings.MQTT_URL)
        if gateway:
            token = Token.objects.filter(user__username=gateway, user__is_active=True).first()
            if token is None or not get_user_model().objects.filter(username=gateway).exists():
                raise CommandError(f"--gateway: no active account {gateway!r} with an API token")
            broker = Broker(broker.host, broker.port, gateway, token.key)
        state = load_state(site_row)
        kinds = [unit_kind for unit_kind in units.all_kinds() if unit_kind.reading is not None]
        for unit_kind in kinds:
            for unit in getattr(state, unit_kind.units):
                unit.live = False  # the engine reports readings only for the units it drives
        names = {
            unit_kind.kind: dict(unit_kind.model.objects.filter(site=site_row).values_list("pk", "name"))
            for unit_kind in kinds
        }
        dispatcher = dispatcher_for(site_row)
        try:
            client = connected(broker)
        except ConnectionError as error:
            raise CommandError(str(error)) from None
        published, started = 0, time.monotonic()
        try:
            while not seconds or time.monotonic() - started < seconds:
                tick_at = time.monotonic()
                result = step(state, interval, dispatcher)
                now = timezone.now().isoformat().replace("+00:00", "Z")
                for kind, rows in result.readings.items():
                    for row in rows:
                        name = names.get(kind, {}).get(row.pop("id"))
                        if name is not None:
                            topic = f"{ROOT}/{site_row.slug}/{kind}/{name}/telemetry"
                            client.publish(topic, json.dumps({"ts": now, **row}), qos=1)
                            published += 1
                time.sleep(max(0.0, interval - (time.monotonic() - tick_at)))
        except KeyboardInterrupt:
            pass
        finally:
            client.disconnect()
            client.loop_stop()
        self.stdout.write(f"published {published} readings of {site_row.slug} to {broker.where}")
