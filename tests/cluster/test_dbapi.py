"""The PEP 249 layer (`multimaster.connect`, `multimaster.dbapi`) against the real lab: the
classic DB-API 2.0 compliance suite (`dbapi-compliance` from PyPI, module `dbapi20`), then what
the suite does not look at: descriptions of empty results, rowcount and lastrowid, both
parameter styles, the PEP 249 exception classes, the exactly-once rules through a cursor (a
lost reply made to happen with the fault proxy), pandas and polars, and secrets in reprs."""

from __future__ import annotations

import datetime
import decimal
import threading
import time
import warnings
from typing import Any, Dict

import pytest

import multimaster
from multimaster import dbapi
from multimaster_lab.coursedata import COLUMNS, DATABASE, PASSWORD, USER, course_rows

from support.faultproxy import FaultProxy
from support.labs import count_titles

try:
    import dbapi20
except ImportError:  # pragma: no cover - CI installs it (the `test` extra)
    dbapi20 = None


SETTINGS: Dict[str, Any] = dict(database=DATABASE, user=USER, password=PASSWORD, connect_timeout=1.0)


@pytest.fixture
def conn(make_mm):
    """An autocommit connection over a MultiMaster from make_mm (which closes it): the tests
    here are about statements on their own; transactions are test_dbapi_transactions.py's."""
    with multimaster.connect(make_mm(), autocommit=True) as c:
        yield c


if dbapi20 is None:

    def test_dbapi20_compliance_suite() -> None:
        print("dbapi-compliance is not installed (pip install dbapi-compliance)")
        pytest.skip("dbapi-compliance (module dbapi20) is not installed")
else:

    class TestDBAPI20Compliance(dbapi20.DatabaseAPI20Test):
        """The suite as it comes, with `multimaster` itself as the driver module. Overridden
        below, each with its reason: only the tests the suite leaves to drivers or that assume
        a choice PEP 249 does not make."""

        driver = multimaster

        @pytest.fixture(autouse=True)
        def _on_the_lab(self, cluster):
            self.connect_args = (cluster.addresses,)
            self.connect_kw_args = SETTINGS

        def setUp(self) -> None:
            self.tearDown()  # the suite's own cleanup: drops tables an interrupted run left

        def test_nextset(self) -> None:
            # Reason: the suite leaves it to drivers (it raises NotImplementedError); nextset
            # is optional and a multimaster statement has at most one result set.
            con = self._connect()
            try:
                assert not hasattr(con.cursor(), "nextset")
            finally:
                con.close()

        def test_setoutputsize(self) -> None:
            # Reason: the suite leaves it to drivers; results are read whole, so
            # setoutputsize is the no-op PEP 249 allows (test_setoutputsize_basic runs it).
            con = self._connect()
            try:
                assert con.cursor().setoutputsize(1000, 0) is None
            finally:
                con.close()

        def test_callproc(self) -> None:
            # Reason: the suite calls the *function* `lower` as a procedure; MySQL's CALL runs
            # only procedures, and a CALL is a write whose result sets are not kept, so
            # callproc raises NotSupportedError as PEP 249 allows.
            con = self._connect()
            try:
                with pytest.raises(multimaster.NotSupportedError):
                    con.cursor().callproc(self.lower_func, ("FOO",))
            finally:
                con.close()

        def test_non_idempotent_close(self) -> None:
            # Reason: PEP 249 does not ask a second close() to fail (the suite itself says
            # "reasonable persons differ"); ours is idempotent, as sqlite3's, so that
            # `with connect(...)` after an explicit close() is safe. Use after close fails.
            con = self._connect()
            con.close()
            con.close()
            with pytest.raises(multimaster.InterfaceError):
                con.cursor()


def test_module_is_a_dbapi_module() -> None:
    assert (multimaster.apilevel, multimaster.threadsafety, multimaster.paramstyle) == ("2.0", 2, "qmark")
    for name in dbapi.__all__ + [
        "Warning",
        "Error",
        "InterfaceError",
        "DatabaseError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    ]:
        if name not in ("Connection", "Cursor"):
            assert getattr(multimaster, name) is getattr(dbapi, name), name
    assert issubclass(multimaster.Warning, Exception) and not issubclass(multimaster.Warning, multimaster.Error)
    # MySQL column type codes: VAR_STRING, STRING, VARCHAR; LONG, LONGLONG, NEWDECIMAL; DATE,
    # DATETIME, TIMESTAMP; BLOB (also TEXT); and no ROWID type in MySQL.
    assert 253 == multimaster.STRING and 254 == multimaster.STRING and 15 == multimaster.STRING
    assert 3 == multimaster.NUMBER and 8 == multimaster.NUMBER and 246 == multimaster.NUMBER
    assert 10 == multimaster.DATETIME and 12 == multimaster.DATETIME and 7 == multimaster.DATETIME
    assert 252 == multimaster.BINARY and 252 != multimaster.STRING and 253 != multimaster.NUMBER
    assert all(code != multimaster.ROWID for code in range(256))
    assert multimaster.STRING != multimaster.NUMBER and multimaster.STRING == multimaster.STRING
    assert multimaster.Date(2002, 12, 25) == datetime.date(2002, 12, 25)
    assert multimaster.Time(13, 45, 30) == datetime.time(13, 45, 30)
    assert multimaster.Timestamp(2002, 12, 25, 13, 45, 30) == datetime.datetime(2002, 12, 25, 13, 45, 30)
    ticks = time.mktime((2002, 12, 25, 13, 45, 30, 0, 0, -1))
    assert multimaster.DateFromTicks(ticks) == datetime.date(2002, 12, 25)
    assert multimaster.TimeFromTicks(ticks) == datetime.time(13, 45, 30)
    assert multimaster.TimestampFromTicks(ticks) == datetime.datetime(2002, 12, 25, 13, 45, 30)
    assert multimaster.Binary(b"x\0y") == b"x\0y"


@pytest.mark.parametrize(
    "sql, read",
    [
        ("SELECT 1", True),
        ("  select 1", True),
        ("/* hint */ SELECT 1", True),
        ("-- c\nSHOW TABLES", True),
        ("# c\nDESC t", True),
        ("DESCRIBE t", True),
        ("(SELECT 1) UNION (SELECT 2)", True),
        ("SELECT*FROM t", True),
        ("WITH a AS (SELECT 1) SELECT * FROM a", True),
        ("EXPLAIN SELECT 1", True),
        ("VALUES (1), (2)", True),
        ("/*Maybe*/ SELECT 1", True),
        # Writes, or not surely reads: run under the exactly-once rules, never retried blindly.
        ("INSERT INTO t VALUES (1)", False),
        ("UPDATE t SET a = 1", False),
        ("CALL p()", False),
        ("WITH a AS (SELECT 1) UPDATE t SET x = 1", False),
        ("EXPLAIN ANALYZE DELETE FROM t", False),
        ("/*!50000 SELECT */ 1", False),
        ("/*M!100000 SELECT */ 1", False),
        ("SET @a = 1", False),
        ("CREATE TABLE t (a INT)", False),
        ("selectx", False),
        ("", False),
    ],
)
def test_reads_and_writes_are_told_apart(sql, read) -> None:
    assert dbapi.returns_rows(sql) is read


def test_description_of_an_empty_result(conn, table) -> None:
    cur = conn.cursor()
    cur.execute(f"SELECT * FROM {table} WHERE title = ?", ("nothing",))
    assert [d[0] for d in cur.description] == COLUMNS
    assert all(len(d) == 7 for d in cur.description)
    title, instructor, duration, created, url = (d[1] for d in cur.description)
    assert title == multimaster.STRING and url == multimaster.STRING
    assert duration == multimaster.NUMBER and created == multimaster.DATETIME
    assert cur.description[0][3] >= 40 and cur.description[0][6] is True  # size, nullable
    assert cur.rowcount == 0 and cur.fetchone() is None and cur.fetchall() == [] and list(cur) == []
    cur.execute(f"DELETE FROM {table} WHERE title = 'nothing'")
    assert cur.description is None and cur.rowcount == 0


def test_rowcount_and_lastrowid(make_mm) -> None:
    # One node while it lives: autocommit writes are not causal, so an UPDATE balanced to the
    # other node could run before that node applied the INSERT just committed.
    conn = multimaster.connect(make_mm(policy="sequential"), autocommit=True)
    cur = conn.cursor()
    name = f"dbapi_auto_{id(cur)}"
    cur.execute(f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))")
    try:
        assert cur.description is None and cur.rowcount == 0 and cur.lastrowid is None
        cur.execute(f"INSERT INTO {name} (v) VALUES (?)", ("one",))
        assert cur.rowcount == 1 and isinstance(cur.lastrowid, int) and cur.lastrowid > 0
        first = cur.lastrowid
        cur.execute(f"SELECT id FROM {name} WHERE v = 'one'")
        assert cur.fetchall() == [(first,)] and cur.lastrowid is None
        cur.execute(f"INSERT INTO {name} (v) VALUES ('a'), ('b'), ('c')")
        assert cur.rowcount == 3 and cur.lastrowid > first  # MySQL: the first id of the batch
        cur.executemany(f"INSERT INTO {name} (v) VALUES (?)", [("x",), ("y",)])
        assert cur.rowcount == 2
        cur.execute(f"UPDATE {name} SET v = 'z' WHERE v IN ('a', 'b', 'x')")
        assert cur.rowcount == 3
        with pytest.raises(multimaster.IntegrityError) as e:
            cur.execute(f"INSERT INTO {name} (id, v) VALUES (?, 'dup')", (first,))
        assert e.value.errno == 1062
    finally:
        cur.execute(f"DROP TABLE {name}")


# Each type and the Python value it round-trips as (PyMySQL's and mysqlclient's types): one
# conversion (src/py/values.rs) for the DB-API and MultiMaster.query alike.
ROUND_TRIPS = [
    ("DECIMAL(30, 10)", decimal.Decimal("12345678901234567890.0123456789")),
    ("NUMERIC(8, 4)", decimal.Decimal("-15.7563")),
    ("DATETIME(6)", datetime.datetime(2024, 2, 29, 23, 59, 58, 123456)),
    ("TIMESTAMP(6) NULL", datetime.datetime(2024, 3, 1, 0, 0, 1, 654321)),
    ("TIME(6)", datetime.timedelta(hours=12, minutes=57, seconds=18, microseconds=396)),
    ("TIME", datetime.timedelta(hours=-30, minutes=-1)),  # negative and beyond a day
    ("TIME", datetime.timedelta(hours=838, minutes=59, seconds=59)),  # TIME's maximum
    ("DATE", datetime.date(1999, 12, 31)),
]


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_values_round_trip_as_their_python_types(make_mm, autocommit) -> None:
    mm = make_mm()
    name = f"dbapi_types_{threading.get_ident() % 100000}"
    columns = ", ".join(f"c{i} {sql}" for i, (sql, _) in enumerate(ROUND_TRIPS))
    mm.execute(f"DROP TABLE IF EXISTS {name}")
    mm.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, {columns})")
    values = tuple(v for _, v in ROUND_TRIPS)
    try:
        conn = multimaster.connect(mm, autocommit=autocommit)
        cur = conn.cursor()
        marks = ", ".join("?" for _ in values)
        cur.execute(f"INSERT INTO {name} VALUES (1, {marks})", values)
        conn.commit()
        select = f"SELECT {', '.join(f'c{i}' for i in range(len(values)))} FROM {name}"
        for sql, params in ((select, None), (select + " WHERE id = ?", (1,))):  # text and binary protocol
            for got in (cur.execute(sql, params).fetchall()[0], mm.query(sql, params, causal=True)[0]):
                assert got == values
                assert [type(v) for v in got] == [type(v) for v in values]
        conn.commit()
    finally:
        mm.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_update_rowcount_counts_matched_rows(make_mm, table, autocommit) -> None:
    """As with CLIENT_FOUND_ROWS (SQLAlchemy's MySQL dialects rely on it): an UPDATE that
    changes nothing still counts the rows it matched; MultiMaster.execute counts changed rows."""
    mm = make_mm(policy="sequential")  # one node: autocommit writes are not causal
    mm.execute(f"INSERT INTO {table} (title) VALUES ('same'), ('same'), ('other')")
    conn = multimaster.connect(mm, autocommit=autocommit)
    cur = conn.cursor()
    cur.execute(f"UPDATE {table} SET title = 'same' WHERE title = ?", ("same",))
    assert cur.rowcount == 2
    cur.execute(f"UPDATE {table} SET title = 'changed' WHERE title = 'other'")
    assert cur.rowcount == 1
    cur.execute(f"UPDATE {table} SET title = 'x' WHERE title = 'none'")
    assert cur.rowcount == 0
    cur.executemany(f"UPDATE {table} SET title = ? WHERE title = ?", [("same", "same"), ("changed", "changed")])
    assert cur.rowcount == 3
    conn.commit()
    done = mm.execute(f"UPDATE {table} SET title = 'same' WHERE title = 'same'")
    assert done.rowcount == 0 and done.matched == 2


def test_qmark_and_named_parameters(conn, table) -> None:
    cur = conn.cursor()
    cur.execute(
        f"INSERT INTO {table} (title, duration, created) VALUES (?, ?, ?)",
        ("it's ? :not", 7, multimaster.Date(2020, 1, 2)),
    )
    cur.execute(f"INSERT INTO {table} (title, duration) VALUES (:t, :d)", {"t": "named", "d": 8})
    cur.execute(f"SELECT title, duration, created FROM {table} WHERE duration = ?", (7,))
    assert cur.fetchall() == [("it's ? :not", 7, datetime.date(2020, 1, 2))]
    cur.execute(f"SELECT title FROM {table} WHERE title = :t OR duration = :d", {"t": "x", "d": 8})
    assert cur.fetchall() == [("named",)]


def test_errors_are_the_pep249_classes(conn, table) -> None:
    cur = conn.cursor()
    with pytest.raises(multimaster.ProgrammingError) as e:
        cur.execute("SELEC 1")
    assert e.value.errno == 1064 and isinstance(e.value, conn.ProgrammingError)
    assert isinstance(e.value, dbapi.DatabaseError) and isinstance(e.value, dbapi.Error)
    with pytest.raises(multimaster.ProgrammingError) as e:
        cur.execute("SELECT * FROM no_such_table")
    assert e.value.errno == 1146
    with pytest.raises(multimaster.DataError) as too_long:
        cur.execute(f"INSERT INTO {table} (title) VALUES (?)", ("x" * 41,))
    assert too_long.value.errno == 1406
    with pytest.raises(multimaster.ProgrammingError):
        cur.execute("SELECT ?", (1, 2))  # wrong parameter count
    with pytest.raises(multimaster.ProgrammingError):
        cur.execute("SELECT ?", (object(),))  # a value that cannot be bound
    with pytest.raises(multimaster.ProgrammingError):
        cur.execute("SELECT 1", key=(table, "title", "x"))  # keys are for writes
    with pytest.raises(multimaster.ProgrammingError):
        cur.executemany("SELECT ?", [(1,)])
    with pytest.raises(multimaster.ProgrammingError):
        conn.cursor().fetchone()  # nothing executed yet
    cur.execute(f"DELETE FROM {table}")
    with pytest.raises(multimaster.ProgrammingError):
        cur.fetchall()  # a write has no result set
    with pytest.raises(multimaster.NotSupportedError):
        conn.rollback()  # autocommit: nothing to roll back
    conn.commit()  # a no-op, and allowed
    conn.autocommit = False
    assert conn.autocommit is False
    conn.rollback()  # no transaction open: nothing to do, and allowed
    conn.autocommit = True


def test_reads_are_causal_unless_asked_not(conn, cluster) -> None:
    """A read through the connection sees every write committed before it, on any node, as it
    would on one server: its session waits for the node to catch up (wsrep_sync_wait=1)."""
    cur = conn.cursor()
    assert [cur.execute("SELECT @@SESSION.wsrep_sync_wait").fetchone() for _ in range(4)] == [(1,)] * 4
    conn.causal_reads = False
    assert [cur.execute("SELECT @@SESSION.wsrep_sync_wait").fetchone() for _ in range(4)] == [(0,)] * 4
    with multimaster.connect(cluster.addresses, causal_reads=False, autocommit=True, **SETTINGS) as fast:
        assert fast.cursor().execute("SELECT @@SESSION.wsrep_sync_wait").fetchone() == (0,)


def test_fetchmany_arraysize_and_iteration(conn, table, make_mm) -> None:
    make_mm().insert_many(table, COLUMNS, course_rows(7), key="title")
    cur = conn.cursor()
    cur.execute(f"SELECT title FROM {table} ORDER BY duration, title")
    assert cur.rowcount == 7 and cur.arraysize == 1
    assert cur.fetchmany() == [("Title0",)]
    cur.arraysize = 3
    assert cur.fetchmany() == [("Title1",), ("Title2",), ("Title3",)]
    assert cur.fetchone() == ("Title4",)
    assert [r[0] for r in cur] == ["Title5", "Title6"]
    assert cur.fetchmany(5) == [] and cur.fetchone() is None


def test_closed_connection_and_cursor(cluster, make_mm) -> None:
    conn = multimaster.connect(cluster.addresses, **SETTINGS)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    cur.close()
    cur.close()  # idempotent
    with pytest.raises(multimaster.InterfaceError):
        cur.fetchall()
    cur2 = conn.cursor()
    conn.close()
    assert conn.closed and conn.multimaster.closed  # connect() made it, close() closed it
    for call in (conn.cursor, conn.commit, lambda: cur2.execute("SELECT 1")):
        with pytest.raises(multimaster.InterfaceError):
            call()
    # Given an existing MultiMaster, the connection uses it and leaves it open.
    mm = make_mm()
    with multimaster.connect(mm) as c:
        c.cursor().execute("SELECT 1")
    assert c.closed and not mm.closed
    assert mm.query("SELECT 1") == [(1,)]
    with pytest.raises(multimaster.InterfaceError):
        multimaster.connect(mm, user="someone")


def test_url_and_password_in_no_repr(cluster) -> None:
    hosts = ",".join(cluster.addresses)
    url = f"mysql://{USER}:{PASSWORD}@{hosts}/{DATABASE}?connect_timeout=1"
    with multimaster.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT DATABASE(), CURRENT_USER()")
        row = cur.fetchone()
        assert row is not None and row[0] == DATABASE
        texts = [repr(conn), str(conn), repr(cur), str(cur)]
    texts += [repr(conn), repr(cur)]  # closed
    assert "closed" in texts[-1]
    for text in texts:
        assert PASSWORD not in text, text
    with (
        pytest.raises(multimaster.OperationalError) as e,
        multimaster.connect(cluster.addresses, DATABASE, USER, "wrong-" + PASSWORD, connect_timeout=1) as bad,
    ):
        bad.cursor().execute("SELECT 1")
    assert e.value.errno == 1045 and PASSWORD not in str(e.value) and PASSWORD not in repr(e.value)


@pytest.fixture
def proxy(cluster):
    host, port = cluster.addresses[0].split(":")
    with FaultProxy((host, int(port))) as p:
        yield p


def proxied_conn(make_mm, cluster, proxy):
    """A connection whose first node is reached through the proxy, and tried first."""
    mm = make_mm([proxy.endpoint, cluster.addresses[1]], policy="sequential")
    return multimaster.connect(mm, autocommit=True)


def test_keyed_write_with_lost_reply_is_written_once(make_mm, table, cluster, proxy) -> None:
    # The proxy cuts the connection while node 1 still answers: checked by key, found.
    cur = proxied_conn(make_mm, cluster, proxy).cursor()
    proxy.drop_after_request(match=b"keyed-once")  # it runs on the server, its reply is lost
    cur.execute(f"INSERT INTO {table} (title) VALUES (?)", ("keyed-once",), key=(table, "title", "keyed-once"))
    assert proxy.drops == 1 and cur.rowcount == 1
    assert count_titles(cluster, table) == (1, 1)  # found by its key, not written again
    assert any(e["kind"] == "ambiguous_resolved" for e in cur.connection.multimaster.events())


def test_unkeyed_write_with_lost_reply_is_ambiguous(make_mm, table, cluster, proxy) -> None:
    cur = proxied_conn(make_mm, cluster, proxy).cursor()
    sql = f"INSERT INTO {table} (title) VALUES (?)"
    proxy.drop_after_request(match=b"unkeyed-once")
    with pytest.raises(multimaster.AmbiguousCommitError) as e:
        cur.execute(sql, ("unkeyed-once",))
    assert proxy.drops == 1 and e.value.statement == sql and e.value.node == proxy.endpoint
    assert count_titles(cluster, table) == (1, 1)  # it had committed, and was not repeated


def test_idempotent_write_with_lost_reply_is_retried(make_mm, table, cluster, proxy) -> None:
    make_mm().insert_many(table, COLUMNS, course_rows(1), key="title")
    cur = proxied_conn(make_mm, cluster, proxy).cursor()
    proxy.drop_after_request(match=b"idempotent-url", crash=True)  # node 1 dies with it
    cur.execute(f"UPDATE {table} SET url = ? WHERE title = ?", ("idempotent-url", "Title0"), idempotent=True)
    assert proxy.drops == 1
    assert cur.connection.multimaster.query(f"SELECT title, url FROM {table}", causal=True) == [
        ("Title0", "idempotent-url")
    ]


def test_read_with_lost_connection_is_retried(make_mm, table, cluster, proxy) -> None:
    make_mm().insert_many(table, COLUMNS, course_rows(3), key="title")
    cur = proxied_conn(make_mm, cluster, proxy).cursor()
    proxy.drop_after_request(match=b"retried-read", crash=True)  # node 1 dies with it
    cur.execute(f"SELECT title, 'retried-read' FROM {table} ORDER BY title")
    assert proxy.drops == 1
    assert [r[0] for r in cur.fetchall()] == ["Title0", "Title1", "Title2"]
    assert [d[0] for d in cur.description] == ["title", "retried-read"]


def test_threads_share_a_connection(conn, table, cluster) -> None:
    """threadsafety = 2: one connection, a cursor per thread."""
    errors: list = []

    def write(start: int) -> None:
        try:
            cur = conn.cursor()
            for title, *rest in course_rows(10, start=start):
                cur.execute(
                    f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                    (title, *rest),
                    key=(table, "title", title),
                )
                assert cur.rowcount == 1
        except BaseException as e:  # asserted below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(10 * k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and count_titles(cluster, table) == (40, 40)


def test_pandas_read_sql(conn, table, make_mm) -> None:
    try:
        import pandas
    except ImportError:
        print("pandas is not installed: pip install 'multimaster[pandas]'")
        pytest.skip("pandas is not installed")
    make_mm().insert_many(table, COLUMNS, course_rows(10), key="title")
    with warnings.catch_warnings():
        # pandas warns that it tests only SQLAlchemy and sqlite3 DB-API connections.
        warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy", category=UserWarning)
        frame = pandas.read_sql(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY title", conn)
        one = pandas.read_sql(f"SELECT title FROM {table} WHERE title = ?", conn, params=("Title3",))
    assert list(frame.columns) == COLUMNS
    assert [tuple(r) for r in frame.itertuples(index=False)] == [
        (t, i, d, datetime.date(1999, 3, 30), u) for t, i, d, _, u in sorted(course_rows(10))
    ]
    assert one["title"].tolist() == ["Title3"]


def test_polars_read_database(conn, table, make_mm) -> None:
    try:
        import polars
    except ImportError:
        print("polars is not installed: pip install 'multimaster[polars]'")
        pytest.skip("polars is not installed")
    make_mm().insert_many(table, COLUMNS, course_rows(10), key="title")
    frame = polars.read_database(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY title", conn)
    assert frame.columns == COLUMNS
    assert frame.rows() == [(t, i, d, datetime.date(1999, 3, 30), u) for t, i, d, _, u in sorted(course_rows(10))]
    assert frame.schema["duration"] == polars.Int64 and frame.schema["created"] == polars.Date
