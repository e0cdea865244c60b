"""Every 2xx on disk (issue 13): the SQLite store fsyncs every commit (`synchronous = FULL`)
and groups the writes of concurrent requests into one transaction (one fsync), each request
in its own savepoint: all or nothing per request, its error back to its caller, nobody
answered before the commit that holds its request. A power loss cannot be simulated here;
`test_crash_safety.py` covers a SIGKILL."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from regflow.adapters.sqlite import MAX_BATCH, SQLiteStore
from regflow.domain import (
    CreateResult,
    Limit,
    Registration,
    Status,
    StoreUnavailable,
)
from regflow.tokens import new_registration_id
from tests.support.sqlite import query

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NO_LIMIT = Limit(max_count=0, window_seconds=3600)
ONE_PER_DAY = Limit(max_count=1, window_seconds=86400)
CLIENT = Limit(max_count=100, window_seconds=3600)


def reg(email: str) -> Registration:
    return Registration(
        id=new_registration_id(),
        name="Jane",
        email=email,
        status=Status.PENDING,
        timestamp=T0,
        ttl=int((T0 + timedelta(hours=24)).timestamp()),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "regflow.db")
    yield s
    s.close()


def synchronous(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


def test_every_connection_is_synchronous_full_in_wal(store: SQLiteStore) -> None:
    with store._write() as db:
        assert synchronous(db) == 2  # FULL
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.get("nobody")  # opens this thread's read connection
    assert synchronous(store._conn()) == 2


def test_normal_keeps_the_old_setting(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "regflow.db", durability="normal")
    try:
        with s._write() as db:
            assert synchronous(db) == 1  # NORMAL
        assert (
            s.create_pending(
                reg("a@example.com"), address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT
            )
            is CreateResult.CREATED
        )
    finally:
        s.close()
    with pytest.raises(ValueError, match="durability"):
        SQLiteStore(tmp_path / "other.db", durability="fast")  # type: ignore[arg-type]


class Batches:
    """Counts commits (and the requests each carried) through the store's hook."""

    def __init__(self, store: SQLiteStore) -> None:
        self.sizes: list[int] = []
        store.on_commit = self.sizes.append


def hold_the_turn(store: SQLiteStore, until: threading.Event) -> Future[None]:
    """A request whose body waits for `until`: everything submitted meanwhile queues up and
    joins its batch."""
    entered = threading.Event()

    def body() -> None:
        with store._write():
            entered.set()
            assert until.wait(10)

    pool = ThreadPoolExecutor(1)
    future = pool.submit(body)
    pool.shutdown(wait=False)
    assert entered.wait(10)
    return future


def submit_all(
    calls: Sequence[Callable[[], Any]], release: threading.Event, store: SQLiteStore
) -> list[Future[Any]]:
    """Start every call on its own thread, wait until all of them queue behind the holder,
    then let the holder finish."""
    pool = ThreadPoolExecutor(len(calls))
    futures = [pool.submit(call) for call in calls]
    deadline = time.monotonic() + 10
    while len(store._waiting) < len(calls) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(store._waiting) == len(calls)
    release.set()
    pool.shutdown(wait=True)
    return futures


def test_concurrent_requests_share_commits_and_each_gets_its_result(store: SQLiteStore) -> None:
    batches = Batches(store)
    n = 200

    def post(i: int) -> CreateResult:
        return store.create_pending(
            reg(f"user{i}@example.com"),
            address_limit=NO_LIMIT,
            client_key=f"10.0.0.{i % 7}",
            client_limit=CLIENT,
        )

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(post, range(n)))
    assert results == [CreateResult.CREATED] * n
    path = store.path
    assert query(path, "SELECT count(*) FROM registrations") == [(n,)]
    assert query(path, "SELECT count(*) FROM outbox") == [(n,)]
    assert query(path, "SELECT sum(count) FROM limit_counters") == [(n,)]
    assert sum(batches.sizes) == n
    assert max(batches.sizes) <= MAX_BATCH


def test_requests_that_arrive_during_a_batch_are_committed_together(store: SQLiteStore) -> None:
    batches = Batches(store)
    release = threading.Event()
    holder = hold_the_turn(store, release)

    def post(i: int) -> CreateResult:
        return store.create_pending(
            reg(f"u{i}@example.com"),
            address_limit=NO_LIMIT,
            client_key=None,
            client_limit=NO_LIMIT,
        )

    posts = [partial(post, i) for i in range(20)]
    futures = submit_all(posts, release, store)
    holder.result(10)
    assert [f.result() for f in futures] == [CreateResult.CREATED] * 20
    assert batches.sizes == [21]  # one transaction, one fsync for all of them


def test_a_batch_is_capped(store: SQLiteStore) -> None:
    batches = Batches(store)
    release = threading.Event()
    holder = hold_the_turn(store, release)

    def touch(i: int) -> None:
        with store._write() as db:
            db.execute(
                "INSERT INTO send_logs (key, times, expires) VALUES (?, '[]', 0)", (f"k{i}",)
            )

    futures = submit_all([partial(touch, i) for i in range(MAX_BATCH + 10)], release, store)
    holder.result(10)
    for f in futures:
        f.result()
    assert batches.sizes == [MAX_BATCH, 11]
    assert query(store.path, "SELECT count(*) FROM send_logs") == [(MAX_BATCH + 10,)]


def test_a_request_that_fails_midway_is_undone_alone(store: SQLiteStore) -> None:
    batches = Batches(store)
    release = threading.Event()
    holder = hold_the_turn(store, release)

    def write(key: str, then: str) -> str:
        with store._write() as db:
            db.execute("INSERT INTO send_logs (key, times, expires) VALUES (?, '[]', 0)", (key,))
            if then == "raise":
                raise RuntimeError("boom")
            if then == "sqlite error":  # a duplicate key, after a first write
                db.execute("INSERT INTO send_logs (key, times, expires) VALUES ('a', '[]', 0)")
            if then == "return early":
                return "early"
            db.execute(
                "INSERT INTO send_logs (key, times, expires) VALUES (?, '[]', 0)", (key + "-2",)
            )
            return "ok"

    plan = [("a", "ok"), ("b", "raise"), ("c", "ok"), ("d", "sqlite error"), ("e", "return early")]
    futures = submit_all([partial(write, k, t) for k, t in plan], release, store)
    holder.result(10)
    assert futures[0].result() == "ok"
    with pytest.raises(RuntimeError, match="boom"):
        futures[1].result()
    assert futures[2].result() == "ok"
    with pytest.raises(sqlite3.IntegrityError):
        futures[3].result()
    assert futures[4].result() == "early"
    assert batches.sizes == [6]
    keys = {k for (k,) in query(store.path, "SELECT key FROM send_logs")}
    assert keys == {"a", "a-2", "c", "c-2", "e"}


def test_a_limited_post_in_a_batch_keeps_only_its_client_count(store: SQLiteStore) -> None:
    release = threading.Event()
    holder = hold_the_turn(store, release)

    def post(i: int) -> CreateResult:
        return store.create_pending(
            reg("same@example.com"),
            address_limit=ONE_PER_DAY,
            client_key="10.0.0.1",
            client_limit=CLIENT,
        )

    futures = submit_all([partial(post, i) for i in range(5)], release, store)
    holder.result(10)
    results = sorted(f.result().value for f in futures)
    assert results.count(CreateResult.CREATED.value) == 1
    assert results.count(CreateResult.ADDRESS_LIMITED.value) == 4
    assert query(store.path, "SELECT count(*) FROM registrations") == [(1,)]
    assert query(store.path, "SELECT count FROM limit_counters") == [(5,)]


def test_a_failing_commit_fails_every_request_of_the_batch(store: SQLiteStore) -> None:
    # a deferred foreign key is checked at COMMIT: one request's bad row fails the commit
    db = sqlite3.connect(store.path)
    db.execute(
        "CREATE TABLE notes (reg TEXT REFERENCES registrations (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    db.close()
    batches = Batches(store)
    release = threading.Event()
    holder = hold_the_turn(store, release)

    def post(i: int) -> CreateResult:
        return store.create_pending(
            reg(f"u{i}@example.com"),
            address_limit=NO_LIMIT,
            client_key=None,
            client_limit=NO_LIMIT,
        )

    def bad_note() -> None:
        with store._write() as db:
            db.execute("INSERT INTO notes (reg) VALUES ('nobody')")

    calls: list[Callable[[], Any]] = [partial(post, i) for i in range(5)]
    futures = submit_all([*calls[:2], bad_note, *calls[2:]], release, store)
    with pytest.raises(StoreUnavailable):
        holder.result(10)
    for f in futures:
        with pytest.raises(StoreUnavailable):
            f.result()
    assert batches.sizes == []
    assert query(store.path, "SELECT count(*) FROM registrations") == [(0,)]
    assert query(store.path, "SELECT count(*) FROM outbox") == [(0,)]
    # the store carries on: the next request gets a fresh transaction
    assert post(99) is CreateResult.CREATED
    assert batches.sizes == [1]


def test_no_answer_before_the_commit(store: SQLiteStore) -> None:
    """The caller's `with` block ends only once its batch's COMMIT returned: what it was
    told is what another connection (another process) reads."""
    seen: list[int] = []
    committed = threading.Event()
    store.on_commit = lambda size: committed.set()

    def post(i: int) -> None:
        store.create_pending(
            reg(f"u{i}@example.com"),
            address_limit=NO_LIMIT,
            client_key=None,
            client_limit=NO_LIMIT,
        )
        # read through a connection of its own: the row must already be committed
        seen.append(
            query(
                store.path,
                "SELECT count(*) FROM registrations WHERE email = ?",
                (f"u{i}@example.com",),
            )[0][0]
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(post, range(64)))
    assert seen == [1] * 64
    assert committed.is_set()


def test_another_process_holding_the_lock_makes_it_unavailable(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "regflow.db", busy_timeout_ms=50)
    other = sqlite3.connect(s.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            s.create_pending(
                reg("a@example.com"),
                address_limit=NO_LIMIT,
                client_key=None,
                client_limit=NO_LIMIT,
            )
        other.execute("ROLLBACK")
        assert (
            s.create_pending(
                reg("a@example.com"), address_limit=NO_LIMIT, client_key=None, client_limit=NO_LIMIT
            )
            is CreateResult.CREATED
        )
    finally:
        other.close()
        s.close()


def test_a_full_disk_midway_leaves_every_answer_true(store: SQLiteStore) -> None:
    """A request that hits SQLITE_FULL inside a batch: whatever SQLite rolls back (the
    statement or the whole transaction), every caller told OK is on disk and every caller
    told `StoreUnavailable` is not."""
    release = threading.Event()
    entered = threading.Event()

    def holder() -> None:
        with store._write() as db:
            pages = int(db.execute("PRAGMA page_count").fetchone()[0])
            db.execute(f"PRAGMA max_page_count = {pages + 8}")  # a nearly full disk
            entered.set()
            assert release.wait(10)

    def write(key: str, size: int) -> str:
        with store._write() as db:
            db.execute(
                "INSERT INTO send_logs (key, times, expires) VALUES (?, ?, 0)", (key, "x" * size)
            )
        return key

    pool = ThreadPoolExecutor(1)
    held = pool.submit(holder)
    assert entered.wait(10)
    plan = [("a", 10), ("big", 1_000_000), ("b", 10), ("c", 10)]
    futures = submit_all([partial(write, k, n) for k, n in plan], release, store)
    pool.shutdown(wait=True)
    told_ok: set[str] = set()
    for f in futures:
        with contextlib.suppress(StoreUnavailable):
            told_ok.add(f.result())
    assert "big" not in told_ok
    assert {"b", "c"} <= told_ok  # the requests after it are not poisoned (a fresh batch)
    held.exception()  # the holder wrote nothing; either answer is true for it
    on_disk = {k for (k,) in query(store.path, "SELECT key FROM send_logs")}
    assert on_disk == told_ok
