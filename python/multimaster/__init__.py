"""multimaster: write to a multi-master MySQL-family cluster through all its nodes at once.

    from multimaster import MultiMaster

    with MultiMaster(["db1:3306", "db2"], database="demo", user="admin", password=pw) as mm:
        done = mm.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1), key=("t", "k", "a"))
        done.rowcount, done.last_insert_id, done.node
        mm.query("SELECT COUNT(*) FROM t")

Statements are balanced over the nodes; a failed node is skipped, probed with backoff and
brought back by itself; a write whose reply is lost is resolved by its key, never blindly
repeated. Logs go to the ``multimaster`` logger. ``multimaster.connect(...)`` gives a PEP 249
connection for pandas, polars and other DB-API users (see ``multimaster.dbapi``).
"""

from __future__ import annotations

import atexit
import logging
from typing import TYPE_CHECKING

from multimaster import exceptions
from multimaster._native import CancelHandle, Transaction, __version__, _shutdown, parse_address, parse_url
from multimaster.aio import AsyncMultiMaster, AsyncTransaction
from multimaster.client import MultiMaster, Options

# PEP 249: `multimaster` is itself a DB-API 2.0 module (see multimaster.dbapi).
from multimaster.dbapi import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
    apilevel,
    connect,
    paramstyle,
    threadsafety,
)
from multimaster.exceptions import *  # noqa: F403 - the PEP 249 classes
from multimaster.records import Event, Node, NodeStats
from multimaster.results import ExecResult, InsertReport, TransactionResult

if TYPE_CHECKING:
    from multimaster.otel import Instrumentation

__all__ = [
    "MultiMaster",
    "AsyncMultiMaster",
    "AsyncTransaction",
    "CancelHandle",
    "Options",
    "ExecResult",
    "InsertReport",
    "Transaction",
    "TransactionResult",
    "Node",
    "NodeStats",
    "Event",
    "parse_address",
    "parse_url",
    "connect",
    "instrument",
    "__version__",
    "apilevel",
    "threadsafety",
    "paramstyle",
    "BINARY",
    "DATETIME",
    "NUMBER",
    "ROWID",
    "STRING",
    "Binary",
    "Date",
    "DateFromTicks",
    "Time",
    "TimeFromTicks",
    "Timestamp",
    "TimestampFromTicks",
    *exceptions.__all__,
]


def instrument(mm: MultiMaster, meter_provider: object = None) -> Instrumentation:
    """OpenTelemetry metrics for `mm` (see `multimaster.otel.instrument`; the `otel` extra).
    Returns the `multimaster.otel.Instrumentation`, whose `uninstrument()` stops it."""
    from multimaster.otel import instrument as _instrument

    return _instrument(mm, meter_provider)


# A library logs but does not decide where logs go: without a handler configured by the
# application, Python would print warnings to stderr.
logging.getLogger("multimaster").addHandler(logging.NullHandler())

# Background threads (node probes, an interrupted insert loop) must not log into an interpreter
# that is finalizing.
atexit.register(_shutdown)
