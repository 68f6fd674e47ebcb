"""PostgreSQL advisory locks: "one at a time" across processes and machines, released when the holder dies.

A session lock lives as long as the holder's database connection: a worker killed mid-run (SIGKILL, out of
memory, machine lost) loses its connection, and PostgreSQL releases the lock with it. So "the lock is free"
means "nobody is running this", which a status column alone cannot say. Session locks need a session of
their own: behind PgBouncer, use session pooling for the workers.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

_INT4 = 2**31


def _keys(name: str, key: int) -> tuple[int, int]:
    """The two int4 keys of pg_*_advisory_lock(int, int): the name's CRC (a namespace) and the key."""
    return zlib.crc32(name.encode()) - _INT4, key % _INT4


@contextmanager
def session_lock(name: str, key: int = 0, *, wait_s: float = 0.0) -> Iterator[bool]:
    """Try to take the lock for up to wait_s (0: once); yields whether it was taken, releases it after."""
    keys = _keys(name, key)
    deadline = time.monotonic() + wait_s
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", keys)
            locked = cursor.fetchone()[0]
        if locked or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    try:
        yield locked
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", keys)
            except DatabaseError:  # the connection is gone, and the lock with it
                pass


def is_held(name: str, key: int = 0) -> bool:
    """Whether any session of this database (this one included) holds the lock now.

    pg_locks lists every database of the server; advisory locks are per database, so another installation's
    lock on the same server is not this one's.
    """
    classid, objid = (part & 0xFFFFFFFF for part in _keys(name, key))  # pg_locks shows the keys as oids
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = %s AND objid = %s AND objsubid = 2 AND granted)",
            [classid, objid],
        )
        return cursor.fetchone()[0]


def transaction_lock(name: str, key: int = 0) -> None:
    """Wait for the lock and hold it to the end of the current transaction: serialises check-then-write."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _keys(name, key))
