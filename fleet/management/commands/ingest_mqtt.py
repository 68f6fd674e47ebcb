"""manage.py ingest_mqtt: telemetry from the MQTT broker into the reading history (docs/telemetry.md).

One long-running process (`make run` starts it; several may run side by side). It subscribes with QoS 1 to
the shared subscription `$share/smartmine-ingest/smartmine/+/+/+/telemetry`, so the broker spreads messages
among the ingest processes, over a persistent MQTT 5 session (clean start off, a session expiry), so what
gateways publish while it is down waits in the broker. Messages are decoded as they arrive (paho's network
thread, while this one waits for PostgreSQL), taken in batches (up to --batch-readings, --batch-messages or
--batch-ms), stored in one transaction through the one ingestion function (one COPY per kind), and only then
acknowledged (manual PUBACK): a message acknowledged is committed; a message not acknowledged (crash, kill,
database down) is delivered again, and the history's unique (equipment, time) key makes the second copy a
counted duplicate, never a second row.

Batches are committed by --committers threads side by side, each on its own database connection: while one
waits for PostgreSQL (its COPY, or its site's lock held by the other), the next batch is checked and copied.
Acknowledgements still go out in the order the messages came (MQTT asks it of QoS 1): a batch committed
early waits for the batches taken before it.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
import redis
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from paho.mqtt.subscribeoptions import SubscribeOptions

from fleet.mqtt_ingest import BatchReport, LivePublisher, ingest_messages, write_heartbeat
from fleet.mqttformat import SUBSCRIPTION, TELEMETRY_TOPICS, Decoded, decode, rejected_topic
from smartmine.platform import heap, metrics
from smartmine.platform.inbox import BatchInbox
from smartmine.platform.mqtt import Broker, client, connect_properties

logger = logging.getLogger("smartmine.mqtt")

#: How often an idle ingest process still says it is alive (fleet.mqtt_ingest.write_heartbeat).
HEARTBEAT_EVERY_S = 5.0
#: Waits after a failed commit (database down): doubled up to the last, the batch kept unacknowledged.
RETRY_DELAYS_S = (0.5, 1, 2, 5)


class Command(BaseCommand):
    help = "Ingest equipment telemetry from the MQTT broker (MQTT_URL) until stopped."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--name", default="1", help="this process's name: its MQTT client id (session) is built from it"
        )
        parser.add_argument("--batch-messages", type=int, default=2000, help="messages per commit at most")
        parser.add_argument("--batch-readings", type=int, default=20_000, help="readings per commit at most")
        parser.add_argument("--batch-ms", type=int, default=200, help="how long a batch collects, at most")
        parser.add_argument(
            "--committers",
            type=int,
            default=2,
            help="threads committing batches side by side, each on its own database connection "
            "(acknowledgements stay in the order received)",
        )
        parser.add_argument(
            "--live-ms", type=int, default=250, help="live frames of the units that spoke, at most this often"
        )
        parser.add_argument(
            "--exclusive",
            action="store_true",
            help="subscribe without the shared group (one ingest process only): Mosquitto restores a plain "
            "subscription of a persistent session after its own restart, a shared one it does not",
        )
        parser.add_argument(
            "--session-expiry", type=int, default=3600, help="seconds the broker keeps our session offline"
        )

    def handle(
        self, *args, name: str, batch_messages: int, batch_readings: int, batch_ms: int, committers: int,
        live_ms: int, exclusive: bool, session_expiry: int, **_,
    ):  # fmt: skip
        ingest = MqttIngest(
            Broker.from_url(settings.MQTT_URL),
            name=name,
            batch_messages=max(1, batch_messages),
            batch_readings=max(1, batch_readings),
            batch_s=max(1, batch_ms) / 1000,
            committers=max(1, committers),
            live_s=max(0, live_ms) / 1000,
            session_expiry_s=session_expiry,
            subscription=TELEMETRY_TOPICS if exclusive else SUBSCRIPTION,
        )
        signal.signal(signal.SIGTERM, lambda *_: ingest.stop())
        signal.signal(signal.SIGINT, lambda *_: ingest.stop())
        # Each message's readings are dicts: thousands a second trigger the cyclic collector, whose full
        # passes would otherwise walk everything Django and the apps loaded (docs/performance.md).
        heap.freeze_startup_heap()
        ingest.run()


class MqttIngest:
    """The receive → commit → acknowledge loop of one ingest process."""

    def __init__(
        self, broker: Broker, *, name: str, batch_messages: int, batch_readings: int = 20_000,
        batch_s: float, committers: int = 2, live_s: float = 0.25, session_expiry_s: int,
        subscription: str = SUBSCRIPTION,
    ) -> None:  # fmt: skip
        self.broker, self.name = broker, name
        self.batch_messages, self.batch_readings, self.batch_s = batch_messages, batch_readings, batch_s
        self.committers = committers
        self.session_expiry_s, self.subscription = session_expiry_s, subscription
        self.publisher = LivePublisher(every_s=live_s)
        #: Messages decoded on arrival; at most the receive maximum of them (unacknowledged) at a time.
        self.inbox: BatchInbox[tuple[paho.MQTTMessage, Decoded]] = BatchInbox(
            max_items=batch_messages, max_weight=batch_readings
        )
        self.stopping = False
        #: One committer takes from the inbox at a time, and numbers its batch: acknowledgements go out in
        #: that order (`_acknowledge_in_turn`).
        self.taking = threading.Lock()
        self.taken = 0
        self.turns = threading.Condition()
        self.turn = 0
        #: What stopped a committer thread other than the main one (raised by `run` once all have stopped).
        self.failure: BaseException | None = None
        self.logged_reasons: set[str] = set()
        self.batch_at: float | None = None
        self.lag_s: float | None = None
        self.beat_at = 0.0
        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        self.client = client(
            broker, client_id=f"smartmine-{settings.INSTALLATION_ID}-ingest-{name}", manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        # A restarted broker forgets shared subscriptions (Mosquitto 2.0): come back quickly to renew ours.
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)

    def stop(self) -> None:
        self.stopping = True

    def _on_connect(self, mqtt, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            logger.error("mqtt connect refused broker=%s reason=%s", self.broker.where, reason_code)
            return
        logger.info("mqtt connected broker=%s session_present=%s", self.broker.where, flags.session_present)
        mqtt.subscribe(self.subscription, options=SubscribeOptions(qos=1))

    def _on_message(self, _mqtt, _userdata, message: paho.MQTTMessage) -> None:
        decoded = decode(message.topic, message.payload)
        self.inbox.put((message, decoded), weight=len(decoded))

    def _on_subscribe(self, _mqtt, _userdata, _mid, reason_codes, _properties) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            logger.error("mqtt subscription %s refused: %s", self.subscription, refused[0])
        else:
            logger.info("mqtt subscribed to %s", self.subscription)

    def run(self) -> None:
        self._connect()
        self.client.loop_start()  # paho's thread: network, keepalive, reconnects; we only take messages
        others = [
            threading.Thread(target=self._other_committer, name=f"ingest-commit-{number}", daemon=True)
            for number in range(2, self.committers + 1)
        ]
        for thread in others:
            thread.start()
        try:
            while not self.stopping:  # this thread commits too, and keeps the live frames and the heartbeat
                self._commit_next()
                self.publisher.publish_due()
                if time.monotonic() - self.beat_at > HEARTBEAT_EVERY_S:
                    self._heartbeat()
        finally:
            self.stopping = True
            for thread in others:
                thread.join()
            self.client.disconnect()
            self.client.loop_stop()
        if self.failure is not None:
            raise self.failure

    def _other_committer(self) -> None:
        try:
            while not self.stopping:
                self._commit_next()
        except BaseException as error:  # the process stops, and run() raises it
            self.failure = error
            self.stopping = True
        finally:
            connection.close()  # this thread's own connection

    def _commit_next(self) -> None:
        with self.taking:
            batch = self._take_batch()
            if not batch:
                return
            turn, self.taken = self.taken, self.taken + 1
        self._handle(batch, turn)

    def _connect(self) -> None:
        """The first connection, retried until the broker answers (later ones are paho's reconnects)."""
        # Room for the batch being committed and the next ones: acknowledgements come only after a commit.
        properties = connect_properties(
            session_expiry_s=self.session_expiry_s, receive_maximum=max(100, 3 * self.batch_messages)
        )
        delay = 1.0
        while not self.stopping:
            try:
                self.client.connect(
                    self.broker.host, self.broker.port, keepalive=30, clean_start=False, properties=properties
                )
                return
            except OSError as error:
                logger.warning(
                    "mqtt broker=%s unreachable (%s); retrying in %.0f s", self.broker.where, error, delay
                )
                time.sleep(delay)
                delay = min(10.0, delay * 2)

    def _take_batch(self) -> list[tuple[paho.MQTTMessage, Decoded]]:
        """Messages until the batch holds --batch-readings or --batch-messages, or --batch-ms passed."""
        return self.inbox.take(first_wait_s=0.1, collect_s=self.batch_s)

    def _handle(self, batch: list[tuple[paho.MQTTMessage, Decoded]], turn: int) -> None:
        decoded = [message for _, message in batch]
        report = None
        try:
            report = self._commit(lambda: ingest_messages(decoded, publisher=self.publisher))
        finally:
            # None: stopping before the database came back (or failed): not acknowledged, the broker keeps
            # them. The turn passes either way, so no later batch waits for it.
            self._acknowledge_in_turn(turn, batch if report is not None else [])
        if report is not None:
            self._report(report)

    def _acknowledge_in_turn(self, turn: int, batch: list[tuple[paho.MQTTMessage, Decoded]]) -> None:
        """Acknowledge the batch once every batch taken before it has been (MQTT: PUBACKs in the order the
        messages came)."""
        with self.turns:
            self.turns.wait_for(lambda: self.turn >= turn)
            for message, _ in batch:
                self.client.ack(message.mid, message.qos)
            self.turn = turn + 1
            self.turns.notify_all()

    def _commit(self, store: Callable[[], BatchReport]) -> BatchReport | None:
        """The batch in one transaction, retried while the database is away (the batch stays unacked)."""
        attempt = 0
        while not self.stopping:
            try:
                return store()
            except (OperationalError, InterfaceError) as error:
                delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
                logger.warning("mqtt batch not stored (%s); retrying in %.1f s", str(error).strip(), delay)
                connection.close()  # a broken connection is not reused; the next attempt opens a fresh one
                time.sleep(delay)
                attempt += 1
        return None

    def _report(self, report: BatchReport) -> None:
        metrics.MQTT_BATCH_READINGS.observe(sum(outcome.received for outcome in report.outcomes))
        outcomes = {"accepted": 0, "partly_rejected": 0, "rejected": 0}
        for outcome in report.outcomes:
            if not outcome.rejected:
                outcomes["accepted"] += 1
                continue
            outcomes["partly_rejected" if outcome.accepted else "rejected"] += 1
            for refusal in outcome.rejected:
                reason = refusal["reason"]
                metrics.MQTT_REJECTED.labels(reason=reason).inc()
                if reason not in self.logged_reasons:  # once per kind of refusal: a flood must not flood logs
                    self.logged_reasons.add(reason)
                    logger.warning(
                        "mqtt telemetry rejected reason=%s topic=%s errors=%s (further %s refusals are "
                        "counted in smartmine_mqtt_rejected_total, not logged)",
                        reason, outcome.topic, refusal["errors"], reason,
                    )  # fmt: skip
            payload = {"accepted": outcome.accepted, "rejected": outcome.rejected}
            self.client.publish(rejected_topic(outcome.topic), json.dumps(payload), qos=1)
        for label, count in outcomes.items():
            if count:
                metrics.MQTT_MESSAGES.labels(outcome=label).inc(count)
        for kind, accepted in report.accepted_by_kind.items():
            metrics.READINGS_INGESTED.labels(kind=kind, source="mqtt").inc(accepted)
        self.batch_at = time.time()
        if report.newest_reading is not None:
            self.lag_s = (timezone.now() - report.newest_reading).total_seconds()
            metrics.MQTT_INGEST_LAG.labels(process=self.name).set(self.lag_s)

    def _heartbeat(self) -> None:
        self.beat_at = time.monotonic()
        try:
            write_heartbeat(self.redis, self.name, batch_at=self.batch_at, lag_s=self.lag_s)
        except redis.RedisError as error:  # health loses a figure; ingest goes on
            logger.warning("mqtt heartbeat not written: %s", error)
