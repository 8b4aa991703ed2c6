"""The SQLAlchemy figures: what the Python data stack does through an engine, measured on the
same lab through `mysql+multimaster`, `mysql+pymysql` and `mysql+mysqlconnector`, each engine
made once (its pool warm, its statement cache filled by the warm-up) and taking turns in
interleaved rounds like the other cases:

  ORM add_all        Session.add_all(objects) + commit(): a model with an AUTO_INCREMENT id,
                     the ids read back (SQLAlchemy batches the INSERTs with RETURNING on
                     MariaDB >= 10.5: "insertmanyvalues", 1,000 rows a statement)
  ORM bulk insert    session.execute(insert(Model), list_of_dicts) + commit(): SQLAlchemy 2.0's
                     bulk INSERT, no ids read back: the driver's executemany()
  to_sql             pandas.DataFrame.to_sql(if_exists="append", index=False), the default
                     method=None (executemany() of the whole frame, chunksize None) and
                     method="multi" (multi-row INSERTs, chunksize=1000)
  transaction        engine.begin(): SELECT ... FOR UPDATE of a counter row, UPDATE it, INSERT
                     a row, COMMIT; one after another on one engine, each timed (p50, p99);
                     and once more through multimaster with causal_reads=false (no causal
                     wait at START TRANSACTION), to show what that wait costs

Beside each figure, the client's CPU (this process) per row or per transaction. Every round
audits the table: as many rows as meant, each title once (and the counter at the number of
transactions).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

from multimaster_lab.coursedata import COLUMNS, DATABASE, DEFINITION
from multimaster_lab.lab import Lab

from bench.figures import Admin, Skip, client_cpu, median_range, pct, rows_for
from bench.labels import (
    COLUMNS_HEADER,
    MULTI_CHUNK,
    ORM_ADD_ALL,
    ORM_BULK,
    SQLA_CONNECTOR,
    SQLA_DRIVERS,
    SQLA_MM,
    SQLA_MM_NOCAUSAL,
    SQLA_PYMYSQL,
    SQLA_THROUGHPUT_HEADER,
    SQLA_TX_DRIVERS,
    SQLA_TX_HEADER,
    SQLA_WORKLOADS,
    TABLE,
    TO_SQL_MULTI,
    TO_SQL_NONE,
    TX_WORKLOAD,
    sqla_label,
)
from bench.report import fmt_rate, ratio_cell, unmeasured

ORM_TABLE = "bench_orm"  # the ORM cases' model: the course's columns and an AUTO_INCREMENT id
COUNTER_TABLE = "bench_counter"  # the transaction's hot row
SQLA_DDL = [
    f"CREATE TABLE IF NOT EXISTS {DATABASE}.{ORM_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, {DEFINITION})",
    f"CREATE TABLE IF NOT EXISTS {DATABASE}.{COUNTER_TABLE} (id INT PRIMARY KEY, n BIGINT NOT NULL)",
]


@dataclass
class Sizes:
    orm: int  # objects per ORM round
    frame: int  # rows of to_sql's frame
    transactions: int  # transactions per round


def sizes(smoke: bool) -> Sizes:
    # A smoke run still writes a full and a partial chunk of method="multi".
    return Sizes(orm=50, frame=MULTI_CHUNK + 100, transactions=20) if smoke else Sizes(10_000, 100_000, 1_000)


@dataclass
class SqlaFigures:
    rates: Dict[str, List[float]] = field(default_factory=dict)  # rows (or transactions) per second
    cpu: Dict[str, List[float]] = field(default_factory=dict)  # client CPU seconds per row (transaction)
    latency: Dict[str, List[List[float]]] = field(default_factory=dict)  # per round, per transaction
    skipped: Dict[str, str] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)


def urls(lab: Lab) -> Dict[str, str]:
    """Each driver's engine URL: the baselines on node 1, multimaster given both nodes (its
    pool's connections pin their transactions by the balancing policy)."""
    creds = lab.credentials()
    login = f"{creds['user']}:{creds['password']}"
    one = lab.nodes[0]
    hosts = "&".join(f"host={n.host}:{n.port}" for n in lab.nodes)
    return {
        SQLA_MM: f"mysql+multimaster://{login}@/{creds['database']}?{hosts}",
        SQLA_MM_NOCAUSAL: f"mysql+multimaster://{login}@/{creds['database']}?{hosts}&causal_reads=false",
        SQLA_PYMYSQL: f"mysql+pymysql://{login}@{one.host}:{one.port}/{creds['database']}?charset=utf8mb4",
        SQLA_CONNECTOR: f"mysql+mysqlconnector://{login}@{one.host}:{one.port}/{creds['database']}?charset=utf8mb4",
    }


def make_engine(url: str) -> Tuple[Any, str]:
    """An engine for url, connected once, or (None, why not)."""
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:
        # The message of a failed connect names the URL: SQLAlchemy masks its password.
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return engine, ""


# Inserts n rows tagged `tag`; returns the seconds the driver's part took (a to_sql frame is
# built beforehand) and, for the transactions, each one's seconds.
Run = Callable[[int, str], Tuple[float, Optional[List[float]]]]


@dataclass
class SqlaCase:
    label: str
    driver: str
    workload: str
    rows: int  # per round: rows, or transactions
    run: Run


def cases_for(engine: Any, driver: str, size: Sizes) -> List[SqlaCase]:
    class Base(DeclarativeBase):
        pass

    class Course(Base):
        __tablename__ = ORM_TABLE
        id = mapped_column(BigInteger, primary_key=True)
        title = mapped_column(String(40))
        instructor = mapped_column(String(40))
        duration = mapped_column(Integer)
        created = mapped_column(Date)
        url = mapped_column(String(100))

    meta = MetaData()
    bench = Table(
        TABLE,
        meta,
        Column("title", String(40)),
        Column("instructor", String(40)),
        Column("duration", Integer),
        Column("created", Date),
        Column("url", String(100)),
    )
    counter = Table(COUNTER_TABLE, meta, Column("id", Integer, primary_key=True), Column("n", Integer))

    def dicts(n: int, tag: str) -> List[Dict[str, Any]]:
        return [dict(zip(COLUMNS, row)) for row in rows_for(n, tag)]

    def add_all(n: int, tag: str) -> Tuple[float, None]:
        values = dicts(n, tag)
        t = time.perf_counter()
        objects = [Course(**d) for d in values]
        with Session(engine) as session:
            session.add_all(objects)
            session.commit()
            if objects[-1].id is None:
                raise AssertionError("add_all: no id read back")
        return time.perf_counter() - t, None

    def bulk(n: int, tag: str) -> Tuple[float, None]:
        values = dicts(n, tag)
        t = time.perf_counter()
        with Session(engine) as session:
            session.execute(insert(Course), values)
            session.commit()
        return time.perf_counter() - t, None

    def frame(n: int, tag: str) -> Any:
        df = pd.DataFrame(rows_for(n, tag), columns=COLUMNS)
        df["created"] = pd.to_datetime(df["created"])  # a date column, as a frame read from anywhere has
        return df

    def to_sql(method: Optional[str], chunksize: Optional[int]) -> Run:
        def run(n: int, tag: str) -> Tuple[float, None]:
            df = frame(n, tag)
            t = time.perf_counter()
            written = df.to_sql(TABLE, engine, if_exists="append", index=False, method=method, chunksize=chunksize)
            elapsed = time.perf_counter() - t
            if written is not None and written != n:
                raise AssertionError(f"to_sql reported {written} rows of {n}")
            return elapsed, None

        return run

    def transactions(n: int, tag: str) -> Tuple[float, List[float]]:
        rows = dicts(n, tag)
        lock = select(counter.c.n).where(counter.c.id == 1).with_for_update()
        bump = update(counter).where(counter.c.id == 1).values(n=counter.c.n + 1)
        add = insert(bench)
        calls = []
        clock = time.perf_counter
        started = clock()
        for row in rows:
            t = clock()
            with engine.begin() as conn:
                conn.execute(lock).scalar_one()
                conn.execute(bump)
                conn.execute(add, row)
            calls.append(clock() - t)
        return clock() - started, calls

    plan: List[Tuple[str, int, Run]] = [
        (ORM_ADD_ALL, size.orm, add_all),
        (ORM_BULK, size.orm, bulk),
        (TO_SQL_NONE, size.frame, to_sql(None, None)),
        (TO_SQL_MULTI, size.frame, to_sql("multi", MULTI_CHUNK)),
        (TX_WORKLOAD, size.transactions, transactions),
    ]
    return [SqlaCase(sqla_label(workload, driver), driver, workload, n, run) for workload, n, run in plan]


def prepare(admin: Admin) -> None:
    for ddl in SQLA_DDL:
        admin.sql(ddl)
    admin.sql(f"INSERT IGNORE INTO {DATABASE}.{COUNTER_TABLE} VALUES (1, 0)")


def table_of(case: SqlaCase) -> str:
    return ORM_TABLE if case.workload in (ORM_ADD_ALL, ORM_BULK) else TABLE


def run_sqla_case(case: SqlaCase, tag: str, admin: Admin, figures: SqlaFigures) -> None:
    label = case.label
    if label in figures.skipped or label in figures.errors:
        return
    table = table_of(case)
    admin.truncate(table)
    admin.sql(f"UPDATE {DATABASE}.{COUNTER_TABLE} SET n = 0 WHERE id = 1")
    cpu0 = client_cpu()
    try:
        elapsed, calls = case.run(case.rows, tag)
    except Skip as e:
        figures.skipped[label] = str(e)
        return
    except Exception as e:
        figures.errors[label] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        return
    cpu = client_cpu() - cpu0
    count, distinct = admin.audit(table)
    if count != case.rows or distinct != case.rows:
        figures.errors[label] = f"{count} rows ({distinct} distinct) in {table}, {case.rows} meant"
        return
    if calls is not None:
        ((n,),) = admin.sql(f"SELECT n FROM {DATABASE}.{COUNTER_TABLE} WHERE id = 1")
        if int(n) != case.rows:
            figures.errors[label] = f"counter at {n} after {case.rows} transactions"
            return
        figures.latency.setdefault(label, []).append(calls)
    figures.rates.setdefault(label, []).append(case.rows / elapsed)
    figures.cpu.setdefault(label, []).append(cpu / case.rows)


def sqla_run(
    lab: Lab, admin: Admin, smoke: bool, rounds: int, closers: List[Callable[[], Any]]
) -> Tuple[List[SqlaCase], SqlaFigures]:
    """Every SQLAlchemy case, warmed up, then `rounds` interleaved rounds."""
    started = time.monotonic()  # the rounds' progress lines count the engines and warm-up in
    size = sizes(smoke)
    figures = SqlaFigures()
    prepare(admin)
    cases: List[SqlaCase] = []
    for driver, url in urls(lab).items():
        workloads = [TX_WORKLOAD] if driver == SQLA_MM_NOCAUSAL else SQLA_WORKLOADS
        engine, why_not = make_engine(url)
        if engine is None:
            for workload in workloads:
                figures.skipped[sqla_label(workload, driver)] = why_not
            continue
        closers.append(engine.dispose)
        cases += [case for case in cases_for(engine, driver, size) if case.workload in workloads]
    warm = SqlaFigures()
    for k, case in enumerate(cases):
        small = SqlaCase(case.label, case.driver, case.workload, min(case.rows, 200), case.run)
        run_sqla_case(small, f"sw{k}_", admin, warm)
    figures.skipped.update(warm.skipped)
    figures.errors.update(warm.errors)
    for r in range(rounds):
        order = list(range(len(cases)))
        for k in order if r % 2 == 0 else reversed(order):
            run_sqla_case(cases[k], f"s{r}c{k}_", admin, figures)
        print(f"SQLAlchemy round {r + 1} of {rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
    return cases, figures


# ------------------------------------------------------------------------------------------------
# Printing


def print_sqla(figures: SqlaFigures, rounds: int, judge: bool, size: Sizes) -> None:
    plural = "s" if rounds != 1 else ""
    print(
        f"\n{SQLA_THROUGHPUT_HEADER}: rows/s through an engine, median of {rounds} interleaved round{plural} "
        f"(min-max); client CPU in microseconds per row (median); ORM {size.orm:,} objects, to_sql a "
        f"{size.frame:,}-row frame; multimaster's engine has both nodes, the others node 1"
    )
    print(
        f"{COLUMNS_HEADER:70} {'rows':>7} {'rows/s':>9} {'min-max':>17} {'CPU us/row':>10}  "
        f"| {'ratio to':22} {'ratio':>8}  target"
    )
    for workload in SQLA_WORKLOADS:
        if workload == TX_WORKLOAD:
            continue
        ours = figures.rates.get(sqla_label(workload, SQLA_MM))
        for driver in SQLA_DRIVERS:
            label = sqla_label(workload, driver)
            rates = figures.rates.get(label)
            if unmeasured(label, bool(rates), figures.skipped, figures.errors) or not rates:
                continue
            mid, lo, hi = median_range(rates)
            rows = size.orm if workload in (ORM_ADD_ALL, ORM_BULK) else size.frame
            line = (
                f"{label:70} {rows:7d} {fmt_rate(mid):>9} {fmt_rate(lo) + '-' + fmt_rate(hi):>17} "
                f"{statistics.median(figures.cpu[label]) * 1e6:10.1f}  "
            )
            if driver != SQLA_MM and ours:
                target = 1.0 if driver == SQLA_PYMYSQL else None
                line += f"| {'multimaster to this':22} {ratio_cell(statistics.median(ours) / mid, target, judge)}"
            print(line.rstrip())

    print(
        f"\n{SQLA_TX_HEADER}: engine.begin(), SELECT ... FOR UPDATE, UPDATE, INSERT, COMMIT; microseconds per "
        f"transaction, p50 and p99 of each round ({size.transactions:,} transactions a round), median of "
        f"{rounds} round{plural} (min-max); client CPU in microseconds per transaction"
    )
    print(
        f"{COLUMNS_HEADER:70} {'tx/s':>7} {'p50':>7} {'min-max':>13} {'p99':>7} {'min-max':>13} {'CPU us':>7}  "
        f"| multimaster to this: p50, p99"
    )
    ours_lat = figures.latency.get(sqla_label(TX_WORKLOAD, SQLA_MM))
    for driver in SQLA_TX_DRIVERS:
        label = sqla_label(TX_WORKLOAD, driver)
        per_round = figures.latency.get(label)
        if unmeasured(label, bool(per_round), figures.skipped, figures.errors) or not per_round:
            continue
        p50 = median_range([pct(r, 0.50) * 1e6 for r in per_round])
        p99 = median_range([pct(r, 0.99) * 1e6 for r in per_round])
        line = (
            f"{label:70} {fmt_rate(statistics.median(figures.rates[label])):>7} {p50[0]:7.0f} "
            f"{f'{p50[1]:.0f}-{p50[2]:.0f}':>13} {p99[0]:7.0f} {f'{p99[1]:.0f}-{p99[2]:.0f}':>13} "
            f"{statistics.median(figures.cpu[label]) * 1e6:7.0f}  "
        )
        if driver in (SQLA_PYMYSQL, SQLA_CONNECTOR) and ours_lat:
            ours50 = statistics.median([pct(r, 0.50) * 1e6 for r in ours_lat])
            ours99 = statistics.median([pct(r, 0.99) * 1e6 for r in ours_lat])
            line += f"| {ours50 / p50[0]:6.2f}x {ours99 / p99[0]:6.2f}x"
            if driver == SQLA_PYMYSQL:  # the target: p99 no worse than mysql+pymysql's
                ok = ours99 <= p99[0]
                line += "  p99 <= mysql+pymysql's: " + (("met" if ok else "MISSED") if judge else "(smoke: not judged)")
        print(line.rstrip())
