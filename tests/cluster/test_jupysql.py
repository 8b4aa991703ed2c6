"""jupysql's `%sql` as a new user runs it, in IPython's own shell (`%load_ext sql`), against the
real lab: CREATE TABLE, INSERT, UPDATE, SELECT and DROP through the DB-API connection (`%sql conn`,
autocommit off, the default, and on) and through the engine (`%sql mysql+multimaster://...`), the rows then checked
on both nodes. jupysql fetches after every statement and takes only the errors it knows for
"no rows" (dbapi.py's `_result` says why its message begins as psycopg2's); it commits after
each statement on a DB-API connection itself (`SqlMagic.autocommit`, on by default), so the
writes are in the table without `conn.commit()` (and, with that setting off, only after it);
on an engine it asks for AUTOCOMMIT."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import pytest

pytest.importorskip("sql", reason="jupysql is not installed: pip install -e '.[test]'")
pytest.importorskip("sqlalchemy")
pytest.importorskip("IPython")

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402

import multimaster  # noqa: E402
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER  # noqa: E402

TABLE = "jupysql_t"


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """IPython's shell in this process with jupysql loaded; its files in tmp_path. jupysql's
    connections are closed afterwards (it would otherwise keep them until exit)."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.enabled = False  # no sqlite history file, no history thread
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "sql")
    # Raise errors with their cause instead of printing a short message and going on.
    ip.run_line_magic("config", "SqlMagic.short_errors = False")
    ip.run_line_magic("config", "SqlMagic.displaycon = False")
    try:
        yield ip
    finally:
        from sql.connection import ConnectionManager

        ConnectionManager.close_all()
        InteractiveShell.clear_instance()


def on_every_node(cluster, sql: str) -> List[Any]:
    """`sql`'s rows as each node answers it, read causally (every write committed before it).
    wsrep_sync_wait=15, not 1: MariaDB waits before a SHOW only with bit 8, and a DDL statement
    (run in total order) may still be being applied on the other node when its client has the OK."""
    return [cluster.sql(i, f"SET SESSION wsrep_sync_wait=15; {sql}") for i in range(1, len(cluster.nodes) + 1)]


@pytest.fixture
def fresh(cluster) -> Iterator[str]:
    cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{TABLE}")
    # Every node has applied the DROP before a test's CREATE may land on either.
    assert on_every_node(cluster, f"SHOW TABLES IN {DATABASE} LIKE '{TABLE}'") == [[]] * len(cluster.nodes)
    yield TABLE
    cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.{TABLE}")


def run(ip: InteractiveShell, statement: str) -> Any:
    """`%sql statement`, as a cell line: its result, or the error it raised."""
    return ip.run_line_magic("sql", statement)


def ddl_dml_select(ip: InteractiveShell, cluster) -> None:
    run(ip, f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, title VARCHAR(40))")
    run(ip, f"INSERT INTO {TABLE} (id, title) VALUES (1, 'one'), (2, 'two')")
    run(ip, f"UPDATE {TABLE} SET title = 'TWO' WHERE id = 2")
    result = run(ip, f"SELECT id, title FROM {TABLE} ORDER BY id")
    assert [tuple(row) for row in result] == [(1, "one"), (2, "TWO")]
    assert list(result.keys) == ["id", "title"]
    # Committed: every node has the rows, read by the lab's own client, not through %sql.
    rows = f"SELECT id, title FROM {DATABASE}.{TABLE} ORDER BY id"
    assert on_every_node(cluster, rows) == [[("1", "one"), ("2", "TWO")]] * len(cluster.nodes)


@pytest.mark.parametrize("autocommit", [False, True], ids=["transactions", "autocommit"])
def test_sql_magic_on_the_dbapi_connection(cluster, fresh, shell, autocommit) -> None:
    # autocommit off (the default): jupysql's own commit() after each statement commits it.
    conn = multimaster.connect(cluster.addresses, DATABASE, USER, PASSWORD, connect_timeout=1.0, autocommit=autocommit)
    try:
        shell.user_ns["conn"] = conn
        run(shell, "conn")
        ddl_dml_select(shell, cluster)
        assert not conn.in_transaction  # jupysql committed the SELECT's transaction too
        run(shell, f"DROP TABLE {TABLE}")
        assert on_every_node(cluster, f"SHOW TABLES IN {DATABASE} LIKE '{TABLE}'") == [[]] * len(cluster.nodes)
    finally:
        conn.close()


def test_sql_magic_on_the_engine(cluster, fresh, shell) -> None:
    hosts = "&".join(f"host={a}" for a in cluster.addresses)
    url = f"mysql+multimaster://{USER}:{PASSWORD}@/{DATABASE}?{hosts}&connect_timeout=1"
    run(shell, url)
    ddl_dml_select(shell, cluster)
    run(shell, f"DELETE FROM {TABLE} WHERE id = 1")
    assert on_every_node(cluster, f"SELECT id FROM {DATABASE}.{TABLE}") == [[("2",)]] * len(cluster.nodes)


def test_without_jupysqls_commit_writes_wait_for_conn_commit(cluster, fresh, shell) -> None:
    """`%config SqlMagic.autocommit = False`: jupysql no longer commits, so on a connection with
    autocommit off an INSERT stays in the open transaction until `conn.commit()`."""
    cluster.sql(1, f"CREATE TABLE {DATABASE}.{TABLE} (id INT PRIMARY KEY)")
    shell.run_line_magic("config", "SqlMagic.autocommit = False")  # read when %sql conn connects
    conn = multimaster.connect(cluster.addresses, DATABASE, USER, PASSWORD, connect_timeout=1.0)
    try:
        shell.user_ns["conn"] = conn
        run(shell, "conn")
        run(shell, f"INSERT INTO {TABLE} (id) VALUES (7)")
        assert conn.in_transaction
        assert on_every_node(cluster, f"SELECT id FROM {DATABASE}.{TABLE}") == [[]] * len(cluster.nodes)
        conn.commit()
        assert on_every_node(cluster, f"SELECT id FROM {DATABASE}.{TABLE}") == [[("7",)]] * len(cluster.nodes)
    finally:
        conn.close()
