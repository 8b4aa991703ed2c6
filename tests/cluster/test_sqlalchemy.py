"""The SQLAlchemy dialect against the real lab: both URL forms and both dialect names connect;
Core and the ORM commit through transactions (rows checked in the table afterwards); pandas
writes and reads a few thousand rows through the engine; isolation levels and AUTOCOMMIT reach
the DB-API connection; pool_pre_ping and a Session keep working when a node is killed with
kill -9, every committed object in the table exactly once and every failure a multimaster
error; a bad password's error holds no password."""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterator, List, Set, Tuple

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import exc  # noqa: E402
from sqlalchemy.dialects.mysql.base import MySQLDialect  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

import multimaster  # noqa: E402
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER  # noqa: E402

from support.bounds import LAB_WAIT, SLACK, detect_bound, wait_for  # noqa: E402
from support.labs import count_titles, heal  # noqa: E402


def comma_url(cluster, scheme: str = "mysql", query: str = "") -> str:
    """`scheme+multimaster://user:pw@h1,h2:port/demo`: every node but the last on the default
    port (make_url takes only the last node's port in this form)."""
    *first, last = cluster.addresses
    assert all(a.endswith(":3306") for a in first), "the comma form needs the default port on earlier nodes"
    hosts = ",".join([a.rsplit(":", 1)[0] for a in first] + [last])
    return f"{scheme}+multimaster://{USER}:{PASSWORD}@{hosts}/{DATABASE}?connect_timeout=1{query}"


def host_url(cluster, scheme: str = "mysql", query: str = "") -> str:
    hosts = "&".join(f"host={a}" for a in cluster.addresses)
    return f"{scheme}+multimaster://{USER}:{PASSWORD}@/{DATABASE}?{hosts}&connect_timeout=1{query}"


@pytest.fixture
def engines() -> Iterator[List[sa.Engine]]:
    made: List[sa.Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def make(engines: List[sa.Engine], url: str, **kw) -> sa.Engine:
    engine = sa.create_engine(url, **kw)
    engines.append(engine)
    return engine


def dbapi_of(conn: sa.Connection) -> multimaster.dbapi.Connection:
    dbapi = conn.connection.dbapi_connection
    assert isinstance(dbapi, multimaster.dbapi.Connection)
    return dbapi


class Base(DeclarativeBase):
    pass


class Item(Base):
    """Keyed by the client (no AUTO_INCREMENT id that a replay on another node could change)."""

    __tablename__ = "sqla_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    k: Mapped[str] = mapped_column(sa.String(40))
    n: Mapped[int] = mapped_column(default=0)


@pytest.fixture
def items(cluster) -> Iterator[str]:
    cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.sqla_item")
    cluster.sql(1, f"CREATE TABLE {DATABASE}.sqla_item (id INT PRIMARY KEY, k VARCHAR(40) NOT NULL, n INT NOT NULL)")
    yield "sqla_item"
    try:
        heal(cluster)
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.sqla_item")
    except Exception:
        pass


def item_counts(cluster) -> Tuple[int, int]:
    """(rows, distinct keys) in sqla_item, read causally on a live node."""
    for i in range(1, len(cluster.nodes) + 1):
        if cluster.pid(i) is None:
            continue
        ((rows, distinct),) = cluster.sql(
            i, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*), COUNT(DISTINCT k) FROM {DATABASE}.sqla_item"
        )
        return int(rows or 0), int(distinct or 0)
    raise AssertionError("no node could count the rows")


@pytest.mark.parametrize("scheme", ["mysql", "mariadb"])
@pytest.mark.parametrize("form", [comma_url, host_url])
def test_both_url_forms_and_names_connect(cluster, engines, scheme, form) -> None:
    engine = make(engines, form(cluster, scheme))
    assert engine.dialect.name == scheme and engine.dialect.driver == "multimaster"
    with engine.connect() as conn:
        assert conn.execute(sa.select(1)).scalar() == 1
        dbapi = dbapi_of(conn)
        assert sorted(dbapi.multimaster.nodes) == sorted(cluster.addresses)
    # What the MySQL dialect asked at first connect went through the DB-API connection.
    dialect = engine.dialect
    assert isinstance(dialect, MySQLDialect)
    assert dialect.server_version_info is not None and dialect.is_mariadb  # SELECT VERSION() said so
    assert dialect._connection_charset == "utf8mb4" and dialect._casing in (0, 1, 2)  # SHOW VARIABLES
    assert PASSWORD not in repr(engine) and PASSWORD not in str(engine.url)


def test_pooled_connections_spread_over_the_nodes(cluster, engines) -> None:
    engine = make(engines, host_url(cluster), pool_size=4)
    held = [engine.connect() for _ in range(4)]
    try:
        # Each connection's transaction is pinned to the node its balancing slot chose.
        nodes = {conn.exec_driver_sql("SELECT @@bind_address").scalar() for conn in held}
        assert nodes == {a.rsplit(":", 1)[0] for a in cluster.addresses}
        shared = {dbapi_of(conn).multimaster for conn in held}
        assert len(shared) == 1  # one MultiMaster per engine
    finally:
        for conn in held:
            conn.close()
    (mm,) = shared
    engine.dispose()
    assert not mm.closed  # the engine's, not the connections': a new pool uses it again
    with engine.connect() as conn:
        assert dbapi_of(conn).multimaster is mm


def test_core_insert_select_in_begin(cluster, table, engines) -> None:
    engine = make(engines, host_url(cluster))
    course = sa.Table(table, sa.MetaData(), autoload_with=engine)  # reflection through the dialect
    with engine.begin() as conn:
        conn.execute(sa.insert(course), [{"title": f"core-{i}", "duration": i} for i in range(20)])
        # Its own uncommitted rows, in its transaction.
        assert conn.execute(sa.select(sa.func.count()).select_from(course)).scalar() == 20
        assert count_titles(cluster, table) == (0, 0)
    assert count_titles(cluster, table) == (20, 20)
    with engine.connect() as conn:
        got = conn.execute(sa.select(course.c.duration).where(course.c.title == "core-7")).scalar()
    assert got == 7
    # A failed block is rolled back: nothing of it written.
    with pytest.raises(exc.ProgrammingError):
        with engine.begin() as conn:
            conn.execute(sa.insert(course), {"title": "never"})
            conn.execute(sa.text("SELECT no_such_column FROM " + table))
    assert count_titles(cluster, table) == (20, 20)


def test_orm_session_commits_objects(cluster, items, engines) -> None:
    engine = make(engines, comma_url(cluster, "mariadb"))
    with Session(engine) as session:
        session.add_all([Item(id=i, k=f"orm-{i}", n=i) for i in range(50)])
        session.commit()
    assert item_counts(cluster) == (50, 50)
    with Session(engine) as session:
        one = session.get(Item, 7)
        assert one is not None and one.k == "orm-7"
        one.n = 1000
        two = session.get(Item, 8)
        assert two is not None
        two.k = "orm-8x"
        session.flush()
        # Set to its own value: rowcount counts the matched row (as CLIENT_FOUND_ROWS), which
        # is what the dialect's supports_sane_rowcount = True promises the ORM.
        same = session.execute(sa.update(Item).where(Item.id == 8).values(k="orm-8x"))
        assert same.rowcount == 1  # type: ignore[attr-defined]
        assert engine.dialect.supports_sane_rowcount
        session.commit()
    ((n,),) = cluster.sql(1, f"SET SESSION wsrep_sync_wait=1; SELECT n FROM {DATABASE}.sqla_item WHERE id = 7")
    assert n == "1000"


def test_isolation_levels_and_autocommit(cluster, engines) -> None:
    engine = make(engines, host_url(cluster))
    with engine.connect().execution_options(isolation_level="READ COMMITTED") as conn:
        assert conn.get_isolation_level() == "READ COMMITTED"
        assert conn.exec_driver_sql("SELECT @@tx_isolation").scalar() == "READ-COMMITTED"
    with engine.connect() as conn:  # given back to the pool at the default level
        assert conn.get_isolation_level() == "REPEATABLE READ"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert dbapi_of(conn).autocommit is True
        conn.execute(sa.select(1))
    with engine.connect() as conn:
        assert dbapi_of(conn).autocommit is False


def test_pandas_to_sql_and_read_sql(cluster, engines) -> None:
    pandas = pytest.importorskip("pandas")
    engine = make(engines, host_url(cluster))
    n = 3000
    frame = pandas.DataFrame({"k": [f"pd-{i}" for i in range(n)], "v": range(n), "x": [i / 4 for i in range(n)]})
    try:
        written = frame.to_sql("sqla_frame", engine, if_exists="replace", index=False)
        assert written in (None, n)
        back = pandas.read_sql("SELECT k, v, x FROM sqla_frame ORDER BY v", engine)
        assert len(back) == n and back["k"].nunique() == n
        assert back["v"].tolist() == list(range(n)) and back["x"].tolist() == [i / 4 for i in range(n)]
        ((rows,),) = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM {DATABASE}.sqla_frame")
        assert int(rows or 0) == n
    finally:
        cluster.sql(1, f"DROP TABLE IF EXISTS {DATABASE}.sqla_frame")


def test_pool_pre_ping_after_a_node_is_killed(cluster, table, engines) -> None:
    engine = make(engines, host_url(cluster), pool_pre_ping=True, pool_size=4)
    held = [engine.connect() for _ in range(4)]  # four pooled connections, spread over the nodes
    for conn in held:
        assert conn.execute(sa.select(1)).scalar() == 1
    for conn in held:
        conn.close()
    cluster.crash(1)
    course = sa.Table(table, sa.MetaData(), sa.Column("title", sa.String(40)))
    # Every pooled connection is pinged at checkout and goes on working on the survivor.
    deadline = time.monotonic() + detect_bound() + SLACK
    for i in range(8):
        with engine.begin() as conn:
            conn.execute(sa.insert(course), {"title": f"after-{i}"})
        assert time.monotonic() < deadline
    assert count_titles(cluster, table) == (8, 8)


def test_a_dead_node_costs_the_pool_no_connection(cluster, table, engines) -> None:
    """Four pooled connections in transactions, two pinned to each node; node 1 is killed:
    the two on it are replayed on node 2 and commit, the two on node 2 never notice, and the
    pool discards none (no invalidation), every row in the table once."""
    engine = make(engines, host_url(cluster), pool_size=4)
    invalidated: List[object] = []
    sa.event.listen(engine, "invalidate", lambda *args: invalidated.append(args))
    sa.event.listen(engine, "soft_invalidate", lambda *args: invalidated.append(args))
    course = sa.Table(table, sa.MetaData(), sa.Column("title", sa.String(40)))
    held = [engine.connect() for _ in range(4)]
    try:
        for i, conn in enumerate(held):
            conn.execute(sa.insert(course), {"title": f"before-{i}"})
        nodes = [str(dbapi_of(conn).node) for conn in held]
        assert sorted(nodes) == sorted(cluster.addresses * 2), nodes  # two on each node
        dbapis = {id(dbapi_of(conn)) for conn in held}
        cluster.crash(1)
        for i, conn in enumerate(held):
            conn.execute(sa.insert(course), {"title": f"after-{i}"})
            assert dbapi_of(conn).node == cluster.addresses[1]  # node 1's two replayed here
            conn.commit()
    finally:
        for conn in held:
            conn.close()
    assert not invalidated and engine.pool.checkedin() == 4  # type: ignore[attr-defined]
    again = [engine.connect() for _ in range(4)]
    assert {id(dbapi_of(conn)) for conn in again} == dbapis  # the same four connections
    for conn in again:
        conn.close()
    assert count_titles(cluster, table) == (8, 8)


def test_begin_nested_rolled_back_then_a_kill_commits_what_it_should(cluster, items, engines) -> None:
    """Session.begin_nested() is a SAVEPOINT in the DB-API transaction: rolled back, then the
    transaction's node killed, the replay on node 2 rolls back to it again and the outer
    commit lands the outer objects and the released nested one, nothing of the rolled-back one."""
    engine = make(engines, host_url(cluster, query="&policy=sequential"))  # node 1
    with Session(engine) as session:
        session.add(Item(id=1, k="outer-1"))
        session.flush()
        nested = session.begin_nested()
        session.add(Item(id=2, k="rolled-back"))
        session.flush()
        nested.rollback()
        with session.begin_nested():
            session.add(Item(id=3, k="nested-kept"))
        cluster.crash(1)
        session.add(Item(id=4, k="outer-2"))
        session.commit()  # its flush replays the transaction on node 2
    rows = cluster.sql(2, f"SET SESSION wsrep_sync_wait=1; SELECT id, k FROM {DATABASE}.sqla_item ORDER BY id")
    assert rows == [("1", "outer-1"), ("3", "nested-kept"), ("4", "outer-2")]
    with engine.connect() as conn:
        events = dbapi_of(conn).multimaster.events()
    assert any(e["kind"] == "retry" and "transaction replayed" in e["detail"] for e in events), events


def test_session_commits_while_a_node_is_killed(cluster, items, engines) -> None:
    engine = make(engines, comma_url(cluster, query="&commit_marker=true"), pool_size=2)
    committed: List[int] = []
    failed: List[Tuple[int, exc.DBAPIError]] = []
    used: Set[multimaster.MultiMaster] = set()  # the pooled connections' MultiMasters
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            keys = list(range(i, i + 3))
            i += 3
            try:
                with Session(engine) as session:
                    session.add_all([Item(id=k, k=f"key-{k}", n=k) for k in keys])
                    dbapi = session.connection().connection.dbapi_connection
                    assert isinstance(dbapi, multimaster.dbapi.Connection)
                    used.add(dbapi.multimaster)
                    session.commit()
                committed.extend(keys)
            except exc.DBAPIError as e:
                failed.extend((k, e) for k in keys)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(committed) >= 30, LAB_WAIT, "30 objects committed")
        # Kill the node the writer's transactions run on (the pool reuses its connection).
        stats = [s for mm in list(used) for s in mm.stats()]
        victim = max(stats, key=lambda s: s["statements"])["address"]
        cluster.crash(cluster.addresses.index(victim) + 1)
        before = len(committed)
        wait_for(lambda: len(committed) >= before + 60, detect_bound() + LAB_WAIT, "60 more objects after the crash")
    finally:
        stop.set()
        thread.join(LAB_WAIT)
    assert not thread.is_alive()
    # The crash reached the writer (a COMMIT in flight is settled by its marker).
    assert any(e["kind"] == "node_down" and e["node"] == victim for mm in used for e in mm.events())
    rows, distinct = item_counts(cluster)
    assert rows == distinct == len(committed), (rows, distinct, len(committed), failed[:3])
    in_table = {int(r[0]) for r in cluster.sql(2, f"SELECT id FROM {DATABASE}.sqla_item")}
    assert in_table == set(committed)  # every committed object once, nothing of a failed commit
    for _, e in failed:
        # A clear failure: a multimaster error SQLAlchemy wrapped, rolled back (commit_marker
        # settles a lost COMMIT, so none is ambiguous).
        assert isinstance(e.orig, multimaster.OperationalError), repr(e.orig)
        assert not isinstance(e.orig, multimaster.AmbiguousCommitError)


def test_state_that_cannot_move_is_a_disconnect_the_pool_replaces(cluster, engines) -> None:
    engine = make(engines, host_url(cluster), pool_size=1)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE sqla_tmp (a INT)")
        conn.commit()  # the temporary table cannot follow the session to another node
        with pytest.raises(exc.OperationalError) as raised:
            conn.execute(sa.select(1))
        assert raised.value.connection_invalidated  # is_disconnect: 2006
        assert getattr(raised.value.orig, "errno", None) == 2006
    with engine.connect() as conn:  # the pool made a new connection
        assert conn.execute(sa.select(1)).scalar() == 1


def test_a_bad_password_is_in_no_error(cluster, engines, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # multimaster's and SQLAlchemy's loggers
    wrong = "not-the-" + PASSWORD
    engine = make(engines, host_url(cluster).replace(f":{PASSWORD}@", f":{wrong}@"), echo=True)
    with pytest.raises(exc.DBAPIError) as raised:
        with engine.connect() as conn:
            conn.execute(sa.select(1))
    text = f"{raised.value!s} {raised.value!r} {raised.value.orig!r}"
    assert wrong not in text and PASSWORD not in text
    assert getattr(raised.value.orig, "errno", None) == 1045 or "1045" in text
    assert wrong not in repr(engine) and wrong not in str(engine.url)
    assert wrong not in caplog.text and PASSWORD not in caplog.text
