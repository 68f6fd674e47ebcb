"""The batch hand-over between paho's network thread and the committing thread of an ingest process."""

import threading
import time

from smartmine.platform.inbox import BatchInbox


def test_a_batch_stops_at_the_item_limit():
    inbox = BatchInbox(max_items=3, max_weight=1000)
    for n in range(7):
        inbox.put(n)

    assert inbox.take(first_wait_s=0, collect_s=0) == [0, 1, 2]
    assert inbox.take(first_wait_s=0, collect_s=0) == [3, 4, 5]
    assert inbox.take(first_wait_s=0, collect_s=0) == [6]
    assert inbox.take(first_wait_s=0, collect_s=0) == []


def test_a_batch_stops_at_the_item_that_reaches_the_weight():
    inbox = BatchInbox(max_items=100, max_weight=25)
    for n, weight in enumerate([10, 10, 10, 10, 0]):
        inbox.put(n, weight=weight)

    assert inbox.take(first_wait_s=0, collect_s=0) == [0, 1, 2]  # 30 >= 25 after the third
    assert inbox.take(first_wait_s=0, collect_s=0) == [3, 4]


def test_an_empty_inbox_waits_for_the_first_item_only_so_long():
    inbox = BatchInbox(max_items=10, max_weight=10)
    started = time.monotonic()

    assert inbox.take(first_wait_s=0.05, collect_s=5) == []
    assert 0.04 <= time.monotonic() - started < 1


def test_items_taken_earlier_do_not_cut_the_wait_for_the_next_one_short():
    inbox = BatchInbox(max_items=10, max_weight=10)
    inbox.put("a")
    assert inbox.take(first_wait_s=0, collect_s=0) == ["a"]
    started = time.monotonic()

    assert inbox.take(first_wait_s=0.05, collect_s=5) == []
    assert time.monotonic() - started >= 0.04


def test_a_partial_batch_is_taken_when_its_time_is_up():
    inbox = BatchInbox(max_items=10, max_weight=100)
    inbox.put("a")
    started = time.monotonic()

    assert inbox.take(first_wait_s=1, collect_s=0.1) == ["a"]
    assert 0.09 <= time.monotonic() - started < 1


def test_a_batch_filled_by_the_producer_wakes_the_consumer_before_its_time():
    inbox = BatchInbox(max_items=50, max_weight=10_000)

    def produce() -> None:
        for n in range(50):
            inbox.put(n)
            time.sleep(0.001)

    producer = threading.Thread(target=produce)
    started = time.monotonic()
    producer.start()
    batch = inbox.take(first_wait_s=5, collect_s=5)
    producer.join()

    assert batch == list(range(50))
    assert time.monotonic() - started < 2.5  # woken when full, not at the 5-s deadline


def test_a_full_inbox_left_over_is_taken_without_waiting():
    inbox = BatchInbox(max_items=2, max_weight=100)
    for n in range(4):
        inbox.put(n)
    inbox.take(first_wait_s=0, collect_s=0)
    started = time.monotonic()

    assert inbox.take(first_wait_s=5, collect_s=5) == [2, 3]
    assert time.monotonic() - started < 1


def test_every_item_is_taken_once_and_in_order_while_a_thread_puts():
    inbox = BatchInbox(max_items=64, max_weight=500)
    count = 50_000

    def produce() -> None:
        for n in range(count):
            inbox.put(n, weight=n % 7)

    producer = threading.Thread(target=produce)
    producer.start()
    taken: list[int] = []
    while len(taken) < count:
        batch = inbox.take(first_wait_s=1, collect_s=0.01)
        assert len(batch) <= 64
        taken.extend(batch)
    producer.join()

    assert taken == list(range(count))
    assert len(inbox) == 0
