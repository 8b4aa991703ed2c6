"""Balancing policies against the lab: key affinity keeps each key on one node and spreads the
keys, hands a drained node's keys to the other and takes them back; least-loaded sends new
statements past a node busy with a long one."""

from __future__ import annotations

import threading
from typing import Dict, List, Set

from multimaster_lab.coursedata import DATABASE

from support.bounds import SLACK, wait_for
from support.labs import count_titles, running

INSERT = "INSERT INTO {t} (title, instructor, duration, created, url) VALUES (?, 'x', 1, '2020-01-01', 'u')"
STATE_BOUND = 2.0 + 1.0 + SLACK  # README: states read every 2 s


def test_key_affinity_keeps_a_key_on_one_node(make_mm, table, cluster):
    mm = make_mm(policy="key-affinity")
    assert mm.policy == "key-affinity"
    sql = INSERT.format(t=table)
    where: Dict[str, Set[str]] = {}
    for i in range(40):
        title = f"k{i % 8}-{i}"
        key = f"k{i % 8}"
        node = mm.execute(sql, (title,), key=(table, "title", key)).node
        where.setdefault(key, set()).add(node)
    assert all(len(nodes) == 1 for nodes in where.values()), where
    assert len({n for nodes in where.values() for n in nodes}) == 2  # 8 keys over both nodes
    # A key whose node drains goes to the other one, and comes back after.
    key, (home,) = next((k, v) for k, v in where.items())
    i = cluster.addresses.index(home) + 1
    cluster.sql(i, "SET GLOBAL wsrep_desync = ON")
    try:
        wait_for(lambda: mm.stats()[i - 1]["state"] == "draining", STATE_BOUND, "the key's node draining")
        assert mm.execute(sql, ("moved",), key=(table, "title", key)).node != home
    finally:
        cluster.sql(i, "SET GLOBAL wsrep_desync = OFF")
    wait_for(lambda: mm.stats()[i - 1]["state"] == "up", STATE_BOUND, "the key's node ready")
    assert mm.execute(sql, ("back",), key=(table, "title", key)).node == home


def test_least_loaded_avoids_the_busy_node(make_mm, table, cluster):
    mm = make_mm(policy="least-loaded")
    sleeper = threading.Thread(target=lambda: mm.execute("DO SLEEP(3)", idempotent=True))
    sleeper.start()
    try:
        busy: List[int] = []

        def sleeping() -> bool:
            busy[:] = [i for i in (1, 2) if running(cluster, i, "DO SLEEP")]
            return bool(busy)

        wait_for(sleeping, 2.0, "the sleep to run")
        (i,) = busy
        other = cluster.addresses[2 - i]
        sql = INSERT.format(t=table)
        used = {mm.execute(sql, (f"l{n}",), key=(table, "title", f"l{n}")).node for n in range(5)}
        assert used == {other}
    finally:
        sleeper.join(10)
    assert count_titles(cluster, table) == (5, 5)


def test_a_transaction_with_affinity_meets_the_keyed_writes(make_mm, table, cluster):
    mm = make_mm(policy="key-affinity")
    sql = INSERT.format(t=table)
    for key in ("a", "b", "c", "d"):
        home = mm.execute(sql, (key,), key=(table, "title", key)).node

        def body(tx, key=key):
            tx.execute(f"UPDATE {table} SET duration = duration + 1 WHERE title = ?", (key,))

        nodes = {mm.transaction(body, affinity=key).node for _ in range(3)}
        assert nodes == {home}, key
    rows = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT SUM(duration) FROM {DATABASE}.{table}")
    assert int(rows[0][0] or 0) == 4 * (1 + 3)
