"""multimaster: write to a multi-master MySQL-family cluster through all its nodes at once.

    from multimaster import MultiMaster

    with MultiMaster(["db1:3306", "db2"], database="demo", user="admin", password=pw) as mm:
        mm.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1), key=("t", "k", "a"))
        mm.query("SELECT COUNT(*) FROM t")

Statements are balanced over the nodes; a failed node is skipped, probed with backoff and
brought back by itself; a write whose reply is lost is resolved by its key, never blindly
repeated. Logs go to the ``multimaster`` logger. ``multimaster.connect(...)`` gives a PEP 249
connection for pandas, polars and other DB-API users (see ``multimaster.dbapi``).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any, List

from multimaster import exceptions
from multimaster.exceptions import *  # noqa: F403 - the PEP 249 classes

if TYPE_CHECKING:
    from multimaster._native import (  # noqa: F401
        InsertReport,
        MultiMaster,
        Transaction,
        TransactionResult,
        __version__,
        parse_address,
        parse_url,
    )

    # PEP 249: `multimaster` is itself a DB-API 2.0 module (see multimaster.dbapi).
    from multimaster.dbapi import (  # noqa: F401
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

__all__ = [
    "MultiMaster",
    "InsertReport",
    "Transaction",
    "TransactionResult",
    "parse_address",
    "parse_url",
    "connect",
    *exceptions.__all__,
]

# The native extension and the DB-API module (which needs it) load on first use of one of their
# names, not on `import multimaster`: importing a pure submodule (multimaster.lab,
# multimaster.coursedata) runs this file first, and must work before the extension is built.
_LAZY = {
    "multimaster._native": (
        "InsertReport",
        "MultiMaster",
        "Transaction",
        "TransactionResult",
        "__version__",
        "parse_address",
        "parse_url",
    ),
    "multimaster.dbapi": (
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
        "apilevel",
        "connect",
        "paramstyle",
        "threadsafety",
    ),
}
_LAZY_MODULE = {name: module for module, names in _LAZY.items() for name in names}

# Hidden from type checkers, which see the imports above instead (and still flag a misspelt name).
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        module = _LAZY_MODULE.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # resolved once: later lookups do not come back here
        return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_LAZY_MODULE})


# A library logs but does not decide where logs go: without a handler configured by the
# application, Python would print warnings to stderr.
logging.getLogger("multimaster").addHandler(logging.NullHandler())


def _shutdown() -> None:
    # Background threads (node probes, an interrupted insert loop) must not log into an
    # interpreter that is finalizing. Nothing to stop if the extension was never loaded.
    native = sys.modules.get("multimaster._native")
    if native is not None:
        native._shutdown()


atexit.register(_shutdown)
