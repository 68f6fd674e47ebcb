"""manage.py mqtt_credentials: the broker's password file and ACL from the gateway accounts.

docs/telemetry.md tells the whole story.

A gateway is a user of the Gateways group (fleet.ingest_telemetry); its MQTT user name is its user name and
its MQTT password its API token, so one credential serves REST and MQTT and is revoked in one place. Which
sites it may publish for are the groups named `Gateways/<site-slug>` it belongs to: a gateway in none is
left out (it cannot publish at all). The ingest process's own user is kept. A running private broker
(devservices) reads the new files at once (SIGHUP); another broker needs them copied and reloaded.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from fleet.choices import GATEWAYS_GROUP
from fleet.models import Site
from smartmine import mqttbroker
from smartmine.platform.mqtt import Broker

#: Prefix of the groups that give a gateway a site: `Gateways/<site-slug>`.
SITE_GROUP_PREFIX = f"{GATEWAYS_GROUP}/"


def gateway_accounts() -> tuple[list[mqttbroker.Gateway], list[str]]:
    """Every active gateway with at least one existing site, and the names of those without one."""
    slugs = set(Site.objects.values_list("slug", flat=True))
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=GATEWAYS_GROUP)
        .prefetch_related("groups")
        .order_by("username")
        .distinct()
    )
    gateways, siteless = [], []
    for user in users:
        sites = sorted(
            name.removeprefix(SITE_GROUP_PREFIX)
            for name in (group.name for group in user.groups.all())
            if name.startswith(SITE_GROUP_PREFIX) and name.removeprefix(SITE_GROUP_PREFIX) in slugs
        )
        if not sites:
            siteless.append(user.username)
            continue
        token, _ = Token.objects.get_or_create(user=user)
        gateways.append(mqttbroker.Gateway(user.username, token.key, tuple(sites)))
    return gateways, siteless


class Command(BaseCommand):
    help = "Write the MQTT broker's password file and ACL from the gateway accounts (Gateways group)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dir", type=Path, default=mqttbroker.BROKER_DIR, help="where passwd and acl are written"
        )

    def handle(self, *args, dir: Path, **_) -> None:
        broker = Broker.from_url(settings.MQTT_URL)
        if broker.username == mqttbroker.INGEST_USER and broker.password:
            ingest_password = broker.password
        else:  # a broker configured without our ingest user: keep (or make) the one stored beside the files
            ingest_password = mqttbroker.ingest_password(dir)
        gateways, siteless = gateway_accounts()
        mqttbroker.write_auth_files(dir, ingest_password=ingest_password, gateways=gateways)
        for gateway in gateways:
            self.stdout.write(f"{gateway.username}: publishes for {', '.join(gateway.sites)}")
        for username in siteless:
            self.stdout.write(
                f"{username}: left out, no site (add it to a group named {SITE_GROUP_PREFIX}<site-slug>)"
            )
        reloaded = mqttbroker.reload(dir)
        where = "the private broker reloaded them" if reloaded else "reload your broker to apply them"
        self.stdout.write(f"wrote {dir / 'passwd'} and {dir / 'acl'} ({len(gateways)} gateways); {where}")
