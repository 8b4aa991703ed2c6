"""A slow statement is not a dead node (issue 7, README "Failure semantics"). A node's liveness is
judged apart from any statement, on a separate connection, so a statement on a live node ends in
one of three ways, none of which marks the node down or carries the statement to another node:

- its result, however long it runs (longer than failure_detection and every other timeout);
- statement_timeout (per instance, per call; None: the instance's, math.inf: none): killed on
  the server with KILL QUERY, StatementTimeoutError naming the node, the time and the limit;
- Ctrl-C: killed on the server too, KeyboardInterrupt within half a second.

And a statement whose connection the server closes while the node still answers (another
session's KILL CONNECTION) is the statement's fault: a read raises, an unkeyed write is
ambiguous, a keyed write is settled by its key; nothing runs again elsewhere.

Each statement is found in the server's processlist by its text, so every test sees its fault
happen (the statement running, then gone), and every wait has a deadline."""

from __future__ import annotations

import json
import math
import signal
import sys
import time

import pytest

import multimaster
from multimaster_lab.coursedata import COLUMNS, DATABASE, course_rows

from support.bounds import SLACK, wait_for
from support.interrupt import CTRL_C_BOUND, CTRL_C_PRELUDE, Child
from support.labs import count_titles, node_events, report_of, running
from support.threads import Call, LockHolder

FD = 1.0  # failure_detection here: short, so that "longer than failure detection" stays short
CONNECT = 1.0  # make_mm's connect_timeout
LONG = 3 * FD  # a statement longer than failure_detection, connect_timeout and failover_timeout
# Every timeout of the instance but statement_timeout, shorter than LONG.
SHORT_TIMEOUTS = dict(failure_detection=FD, connect_timeout=CONNECT, failover_timeout=1.0, write_timeout=1.0)
LIMIT = 1.0  # the statement_timeout of the tests that hit it
# A statement killed with KILL QUERY (over a new connection: 1.5 x connect_timeout at most)
# ends on the server at once; the allowance for the processlist to show it gone.
GONE_WITHIN = 1.5 * CONNECT + SLACK


# The bounds on how long a timed-out call takes: its limit (5 % spares the timer's
# granularity), and no more than the limit, the kill's connect and SLACK.
def timed_out_within(limit: float) -> tuple[float, float]:
    return 0.95 * limit, limit + 1.5 * CONNECT + SLACK


def where(cluster, prefix: str) -> list[tuple[int, int]]:
    """(node index, processlist id) of every session on the lab running `prefix...`."""
    return [(i, pid) for i in range(1, len(cluster.nodes) + 1) for pid in running(cluster, i, prefix)]


def wait_running(cluster, prefix: str, call: Call | None = None) -> tuple[int, int]:
    """Waits until exactly one session runs `prefix...`; its (node index, id)."""
    wait_for(lambda: where(cluster, prefix) or (call is not None and not call.running()), 30, f"{prefix!r} to run")
    if call is not None and not call.running():
        pytest.fail(f"the call ended before its statement was seen running: {call.error!r} {call.value!r}")
    found = where(cluster, prefix)
    assert len(found) == 1, found
    return found[0]


def wait_gone(cluster, prefix: str) -> None:
    wait_for(lambda: not where(cluster, prefix), GONE_WITHIN, f"{prefix!r} gone from every processlist")


def all_up_and_quiet(mm, since: float = 0.0) -> None:
    """No node taken for dead, back, or failed over from; every node up."""
    assert node_events(mm, since) == [], mm.events()
    assert [s["state"] for s in mm.stats()] == ["up"] * len(mm.nodes), mm.stats()


# --- a long statement on a live node completes ----------------------------------------------------


@pytest.mark.parametrize("call", ["query", "execute", "transaction"])
def test_a_statement_longer_than_every_timeout_completes(make_mm, cluster, call):
    """SLEEP(3 x failure_detection) on a live node, with every timeout but statement_timeout
    shorter: it completes with its result, once, and no node event. (Judge liveness by the
    statement's time and it fails over, or raises AllNodesDownError with both nodes up.)"""
    mm = make_mm(**SHORT_TIMEOUTS)
    statement = f"SELECT SLEEP({LONG}) AS slow_{call}"
    run = {
        "query": lambda: mm.query(statement),
        "execute": lambda: mm.execute(f"DO SLEEP({LONG}), 'slow_{call}'").rowcount,
        "transaction": lambda: mm.transaction(lambda tx: tx.query(statement)).value,
    }[call]
    started = time.monotonic()
    result = run()
    took = time.monotonic() - started
    assert result == (0 if call == "execute" else [(0,)])
    assert LONG * 0.95 <= took < LONG + SLACK, took
    all_up_and_quiet(mm)
    assert mm.stats()[1]["statements"] == 0, "run again on node 2"


def test_a_long_statement_is_watched_from_a_separate_connection(make_mm, cluster):
    """While a statement runs past the grace (failure_detection / 3), node 1's liveness is
    checked on another connection: node 1 accepts at least two connections from the instance
    for one long statement (the statement's own, and a liveness check's). Take the checks away
    and it is one."""
    mm = make_mm([cluster.addresses[0]], **SHORT_TIMEOUTS)
    before = _connections(cluster, 1)
    assert mm.query(f"SELECT SLEEP({LONG}) AS watched") == [(0,)]
    after = _connections(cluster, 1)
    opened = after - before - 1  # the second look's own connection
    assert opened >= 2, f"node 1 accepted {opened} connection(s) from the instance"
    all_up_and_quiet(mm)


def _connections(cluster, i: int) -> int:
    """Connections node i has accepted since it started, this look's own included."""
    ((_, value),) = cluster.sql(i, "SHOW GLOBAL STATUS LIKE 'Connections'")
    return int(value or 0)


SUSPENDED_SCRIPT = """
import json, sys, multimaster
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
mm = multimaster.MultiMaster(sys.argv[1].split(","), DATABASE, USER, PASSWORD, connect_timeout=1.0,
                             failure_detection=float(sys.argv[2]))
print("ready", flush=True)
print("result", json.dumps(mm.query(sys.argv[3])), flush=True)
print("events", json.dumps([e["kind"] for e in mm.events()]), flush=True)
print("statements", json.dumps([s["statements"] for s in mm.stats()]), flush=True)
"""


def test_a_client_suspended_mid_statement_does_not_take_the_node_for_dead(cluster):
    """The client itself is suspended (SIGSTOP: Ctrl-Z, a paused VM) for longer than
    failure_detection while its statement runs on a live node: no liveness check was asked
    meanwhile, none went unanswered, so on resume the node is asked again, answers, and the
    statement completes on it, once, with no node event. (Counting the suspension as silence
    cuts the connection, marks node 1 down and runs the statement again on node 2.)"""
    statement = f"SELECT SLEEP({LONG + 1}) AS suspended_client"
    child = Child([sys.executable, "-c", SUSPENDED_SCRIPT, ",".join(cluster.addresses), str(FD), statement])
    try:
        child.wait_line(lambda text: text == "ready", 60, "the child to be ready")
        wait_for(lambda: where(cluster, statement) or child.proc.poll() is not None, 30, f"{statement!r} to run")
        time.sleep(FD / 2)  # past the grace: liveness checks have begun
        child.signal(signal.SIGSTOP)
        try:
            time.sleep(2.5 * FD)
        finally:
            child.signal(signal.SIGCONT)
        assert child.finish(LONG + 1 + SLACK + 10) == 0, child.stderr()
    finally:
        child.close()
    lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in child.lines if " " in line}
    assert lines["result"] == [[0]], child.stdout()
    assert not set(lines["events"]) & {"node_down", "node_up", "failover"}, lines["events"]
    assert lines["statements"] == [1, 0], lines["statements"]


# --- statement_timeout ------------------------------------------------------------------------


def check_timeout(e: pytest.ExceptionInfo, took: float, limit: float, statement: str, cluster) -> None:
    error = e.value
    assert type(error) is multimaster.StatementTimeoutError, repr(error)
    assert isinstance(error, multimaster.OperationalError)
    low, high = timed_out_within(limit)
    assert low <= took < high, took
    assert error.node in cluster.addresses, error.node
    assert error.timeout == pytest.approx(limit)
    assert low <= error.elapsed <= took + 0.05, (error.elapsed, took)
    assert error.statement == statement
    assert error.node is not None and error.node in str(error)


@pytest.mark.parametrize("call", ["query", "execute"])
def test_statement_timeout_per_call_kills_the_statement(make_mm, cluster, call):
    mm = make_mm(failure_detection=FD)  # no instance limit
    statement = f"SELECT SLEEP(30) AS per_call_{call}" if call == "query" else f"DO SLEEP(30), 'per_call_{call}'"
    started = time.monotonic()
    with pytest.raises(multimaster.StatementTimeoutError) as e:
        getattr(mm, call)(statement, statement_timeout=LIMIT)
    check_timeout(e, time.monotonic() - started, LIMIT, statement, cluster)
    wait_gone(cluster, statement)  # killed on the server, not left running
    all_up_and_quiet(mm)
    # The node is still in rotation: the next statements run as usual.
    assert mm.query("SELECT 1") == [(1,)] and mm.query("SELECT 2") == [(2,)]


INSTANCE_CASES = {
    "query": ("SELECT SLEEP(30) AS instance_query", lambda mm, sql: mm.query(sql)),
    "execute": ("DO SLEEP(30), 'instance_execute'", lambda mm, sql: mm.execute(sql)),
    "query-None": ("SELECT SLEEP(30) AS instance_none", lambda mm, sql: mm.query(sql, statement_timeout=None)),
    "execute-None": ("DO SLEEP(30), 'instance_none'", lambda mm, sql: mm.execute(sql, statement_timeout=None)),
}


@pytest.mark.parametrize("case", list(INSTANCE_CASES))
def test_statement_timeout_instance_default(make_mm, cluster, case):
    """statement_timeout=LIMIT on the instance limits every call that does not say otherwise
    (per call, None means the instance's limit)."""
    mm = make_mm(failure_detection=FD, statement_timeout=LIMIT)
    statement, call = INSTANCE_CASES[case]
    started = time.monotonic()
    with pytest.raises(multimaster.StatementTimeoutError) as e:
        call(mm, statement)
    check_timeout(e, time.monotonic() - started, LIMIT, statement, cluster)
    wait_gone(cluster, statement)
    all_up_and_quiet(mm)


def test_statement_timeout_per_call_overrides_the_instance(make_mm, cluster):
    """Per call, a longer limit or math.inf lets a statement longer than the instance's limit
    complete."""
    mm = make_mm(failure_detection=FD, statement_timeout=LIMIT)
    longer = 2 * LIMIT + 0.5
    assert mm.query(f"SELECT SLEEP({longer})", statement_timeout=math.inf) == [(0,)]
    assert mm.query(f"SELECT SLEEP({longer})", statement_timeout=longer + 5) == [(0,)]
    assert mm.execute(f"DO SLEEP({longer})", statement_timeout=math.inf).rowcount == 0
    assert mm.transaction(lambda tx: tx.query(f"SELECT SLEEP({longer})"), statement_timeout=math.inf).value == [(0,)]
    all_up_and_quiet(mm)


@pytest.mark.parametrize("how", ["query", "execute"])
def test_statement_timeout_in_a_transaction_rolls_it_back(make_mm, cluster, table, how):
    """transaction(..., statement_timeout=) limits each statement in it: the INSERT before the
    sleep is rolled back with the transaction, and the body is not run again (a timeout is the
    statement's end, not a fault of the node to replay elsewhere)."""
    mm = make_mm(failure_detection=FD)
    statement = "SELECT SLEEP(30) AS in_a_transaction" if how == "query" else "DO SLEEP(30), 'in_a_transaction'"
    attempts: list = []

    def body(tx):
        attempts.append(tx.node)
        tx.execute(f"INSERT INTO {table} (title) VALUES ('rolled-back')")
        return getattr(tx, how)(statement)

    started = time.monotonic()
    with pytest.raises(multimaster.StatementTimeoutError) as e:
        mm.transaction(body, statement_timeout=LIMIT)
    check_timeout(e, time.monotonic() - started, LIMIT, statement, cluster)
    assert len(attempts) == 1, attempts
    wait_gone(cluster, statement)
    assert count_titles(cluster, table) == (0, 0)
    all_up_and_quiet(mm)


@pytest.mark.parametrize("keyed", [False, True], ids=["unkeyed", "keyed"])
def test_statement_timeout_on_a_write_blocked_by_a_lock(make_mm, cluster, table, keyed):
    """An INSERT on node 1 waits for a lock another node 1 session holds; statement_timeout
    kills it: StatementTimeoutError, neither retried on node 2 nor settled by its key, and once
    the lock is released the row is still not there (a write left waiting would commit then)."""
    insert = f"INSERT INTO {table} (title) VALUES ('timed-out')"
    key = {"key": (table, "title", "timed-out")} if keyed else {}
    with LockHolder(cluster, 1, table):
        mm = make_mm(failure_detection=FD)  # its first request goes to node 1
        started = time.monotonic()
        with pytest.raises(multimaster.StatementTimeoutError) as e:
            mm.execute(insert, statement_timeout=LIMIT, **key)
        check_timeout(e, time.monotonic() - started, LIMIT, insert, cluster)
        assert e.value.node == cluster.addresses[0]
        wait_gone(cluster, insert)
    # The lock holder is gone (its transaction rolled back): nothing can hold the INSERT now.
    assert count_titles(cluster, table) == (0, 0)
    all_up_and_quiet(mm)
    assert mm.stats()[1]["statements"] == 0, "sent to node 2 as well"


@pytest.mark.parametrize("where_from", ["per_call", "instance"])
def test_statement_timeout_stops_insert_many_at_a_blocked_row(make_mm, cluster, table, where_from):
    """insert_many(..., statement_timeout=) or the instance's limit: Title0 (node 1 first) waits
    for a lock on node 1 and is killed; the loop stops with StatementTimeoutError and its report,
    nothing written."""
    per_call = {"statement_timeout": LIMIT} if where_from == "per_call" else {}
    instance = {"statement_timeout": LIMIT} if where_from == "instance" else {}
    with LockHolder(cluster, 1, table):
        mm = make_mm(failure_detection=FD, **instance)
        started = time.monotonic()
        with pytest.raises(multimaster.StatementTimeoutError) as e:
            mm.insert_many(table, COLUMNS, course_rows(4), key="title", **per_call)
        took = time.monotonic() - started
        low, high = timed_out_within(LIMIT)
        assert low <= took < high, took
        assert e.value.node == cluster.addresses[0] and e.value.timeout == pytest.approx(LIMIT)
        assert report_of(e.value).rows == 0
        wait_gone(cluster, "INSERT INTO")  # whatever text the loop's INSERT has
    assert count_titles(cluster, table) == (0, 0)
    all_up_and_quiet(mm)


# --- Ctrl-C -------------------------------------------------------------------------------------

# The call under test runs in a child (SIGINT goes to its main thread), on the lab's nodes; the
# child prints "ready" before the call, "interrupted ..." when it catches KeyboardInterrupt, then
# waits (its MultiMaster open, so that its connection cannot be what ends the statement) until
# the file argv[4] exists, and prints its events and node states.
SLOW_SCRIPT = (
    CTRL_C_PRELUDE
    + """
import json
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
nodes, table, call, release = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
mm = multimaster.MultiMaster(nodes, DATABASE, USER, PASSWORD, connect_timeout=1.0, failure_detection=1.0)
calls = {
    "query": lambda: mm.query("SELECT SLEEP(30) AS ctrl_c_query"),
    "execute": lambda: mm.execute("DO SLEEP(30), 'ctrl_c_execute'"),
    "insert": lambda: mm.execute(f"INSERT INTO {table} (title) VALUES ('ctrl-c')"),
    "transaction": lambda: mm.transaction(lambda tx: tx.query("SELECT SLEEP(30) AS ctrl_c_transaction")),
}
print("ready", flush=True)
entered = time.monotonic()
try:
    calls[call]()
    print("returned", flush=True)
except KeyboardInterrupt:
    interrupted(entered)
deadline = time.monotonic() + 60
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
print("events", json.dumps([e["kind"] for e in mm.events()]), flush=True)
print("states", json.dumps([s["state"] for s in mm.stats()]), flush=True)
mm.close()
"""
)

STATEMENTS = {
    "query": "SELECT SLEEP(30) AS ctrl_c_query",
    "execute": "DO SLEEP(30), 'ctrl_c_execute'",
    "transaction": "SELECT SLEEP(30) AS ctrl_c_transaction",
}


def interrupt_statement(cluster, table: str, call: str, statement: str, tmp_path) -> None:
    """Runs SLOW_SCRIPT's `call`, sends SIGINT once `statement` runs on a node, and checks: the
    child caught KeyboardInterrupt within CTRL_C_BOUND of the signal's arrival (and of the
    parent's kill()), the statement is gone from the processlist while the child still holds its
    connections, and the child saw no node event and every node up."""
    release = tmp_path / f"release-{call}"
    child = Child([sys.executable, "-c", SLOW_SCRIPT, ",".join(cluster.addresses), table, call, str(release)])
    try:
        child.wait_line(lambda text: text == "ready", 60, "the child to be ready")
        wait_for(lambda: where(cluster, statement) or child.proc.poll() is not None, 30, f"{statement!r} to run")
        assert child.proc.poll() is None, child.stdout() + child.stderr()
        sent = time.monotonic()
        child.signal(signal.SIGINT)
        k = child.wait_line(
            lambda text: text.startswith(("interrupted", "returned")), CTRL_C_BOUND + 10, "the child to be interrupted"
        )
        line = child.lines[k].split()
        assert line[0] == "interrupted", child.stdout()
        wait_gone(cluster, statement)  # killed on the server: the child's connection is still open
        release.touch()
        e = child.wait_line(lambda text: text.startswith("events "), 30, "the child's events")
        s = child.wait_line(lambda text: text.startswith("states "), 30, "the child's node states")
        assert child.finish(30) == 0, child.stderr()
    finally:
        child.close()
    arrived, caught = float(line[1]), float(line[2])
    print(f"SIGINT in {call}: delivered {arrived - sent:.3f} s after kill(), caught {caught - arrived:.3f} s later")
    assert caught - arrived < CTRL_C_BOUND, f"Ctrl-C took {caught - arrived:.3f} s"
    assert sent <= arrived and caught - sent < CTRL_C_BOUND, (sent, arrived, caught)
    kinds = json.loads(child.lines[e].split(" ", 1)[1])
    assert not set(kinds) & {"node_down", "node_up", "failover"}, kinds
    assert json.loads(child.lines[s].split(" ", 1)[1]) == ["up", "up"]


@pytest.mark.parametrize("call", ["query", "execute", "transaction"])
def test_ctrl_c_kills_a_long_statement(cluster, table, call, tmp_path):
    interrupt_statement(cluster, table, call, STATEMENTS[call], tmp_path)


def test_ctrl_c_kills_a_write_blocked_by_a_lock(cluster, table, tmp_path):
    """execute() of an INSERT waiting for a lock on node 1: interrupted, and killed, so that
    once the lock is released the row does not appear."""
    insert = f"INSERT INTO {table} (title) VALUES ('ctrl-c')"
    with LockHolder(cluster, 1, table):
        interrupt_statement(cluster, table, "insert", insert, tmp_path)
    assert count_titles(cluster, table) == (0, 0)


# --- KILL CONNECTION from another session: the node still answers ---------------------------


def killed(cluster, call: Call, statement: str) -> tuple[int, BaseException]:
    """Kills the session running `statement` with KILL CONNECTION from another session; the node
    index it ran on, and what the call raised (within a liveness check and SLACK)."""
    i, pid = wait_running(cluster, statement, call)
    cluster.sql(i, f"KILL CONNECTION {pid}")
    return i, call.raised(1.5 * CONNECT + SLACK)


def test_killed_read_raises_still_answers(make_mm, cluster):
    mm = make_mm(failure_detection=FD)
    statement = "SELECT SLEEP(30) AS killed_read"
    i, error = killed(cluster, Call(lambda: mm.query(statement)).start(), statement)
    assert type(error) is multimaster.OperationalError, repr(error)
    assert "still answers" in str(error)
    wait_gone(cluster, statement)  # not run again anywhere
    all_up_and_quiet(mm)


def test_killed_unkeyed_write_is_ambiguous(make_mm, cluster, table):
    mm = make_mm(failure_detection=FD)
    insert = f"INSERT INTO {table} (title, duration) VALUES ('killed-unkeyed', SLEEP(30))"
    i, error = killed(cluster, Call(lambda: mm.execute(insert)).start(), insert)
    assert type(error) is multimaster.AmbiguousCommitError, repr(error)
    assert error.node == cluster.addresses[i - 1] and error.statement == insert
    wait_gone(cluster, insert)
    assert count_titles(cluster, table) == (0, 0)  # killed before it wrote; not repeated
    all_up_and_quiet(mm)


@pytest.mark.parametrize("found", [True, False], ids=["found", "not-found"])
def test_killed_keyed_write_is_settled_by_its_key(make_mm, cluster, table, found):
    """The key check decides: if the row is there (another session wrote it, on the other node,
    while the statement ran), the call returns normally; if not, OperationalError "still answers"
    and nothing is written anywhere (not run again on the other node)."""
    mm = make_mm(failure_detection=FD)
    title = f"killed-{'found' if found else 'missing'}"
    insert = f"INSERT INTO {table} (title, duration) VALUES ('{title}', SLEEP(30))"
    call = Call(lambda: mm.execute(insert, key=(table, "title", title))).start()
    i, pid = wait_running(cluster, insert, call)
    if found:
        other = 2 if i == 1 else 1
        cluster.sql(other, f"INSERT INTO {DATABASE}.{table} (title) VALUES ('{title}')")
    cluster.sql(i, f"KILL CONNECTION {pid}")
    call.wait(1.5 * CONNECT + SLACK + 5)  # + the key check
    if found:
        assert call.error is None, repr(call.error)
        assert count_titles(cluster, table) == (1, 1)
    else:
        assert type(call.error) is multimaster.OperationalError, repr(call.error)
        assert "still answers" in str(call.error)
        assert count_titles(cluster, table) == (0, 0)
    wait_gone(cluster, insert)
    all_up_and_quiet(mm)
