"""The exceptions multimaster raises: a PEP 249 hierarchy rooted at :class:`Error`.

Every exception carries ``errno`` (the MySQL error code, or ``None``), ``sqlstate`` and
``node`` (the ``host:port`` that raised it, or ``None``); ``row`` and ``report`` when
``insert_many`` raised it; and the details its class documents. They are defined here, in
Python, so that users can catch and subclass them like any other exception; the Rust core
(``src/py/errors.rs``) raises these same classes, passing each detail as a keyword argument.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from multimaster.results import InsertReport

__all__ = [
    "Error",
    "Warning",
    "InterfaceError",
    "DatabaseError",
    "InternalError",
    "OperationalError",
    "ProgrammingError",
    "IntegrityError",
    "DataError",
    "NotSupportedError",
    "AllNodesDownError",
    "AmbiguousCommitError",
    "StatementTimeoutError",
    "TransactionReplayError",
]


class Warning(Exception):  # noqa: A001 - the name PEP 249 gives it
    """PEP 249 Warning (not raised by multimaster; exported for DB-API compatibility)."""


class Error(Exception):
    """Root of every error multimaster raises.

    ``msg`` is the message, ``errno`` the MySQL error code (or ``None``), ``sqlstate`` its
    SQLSTATE (or ``None``), ``node`` the ``host:port`` it came from (or ``None``).

    Raised by ``insert_many``, it also carries ``row``, the index (in the rows given) of a row
    the server refused, or ``None``; and ``report``, the :class:`InsertReport` of what was
    written before the error (those rows stay written). Subclasses document the details they
    add.
    """

    msg: str
    errno: Optional[int]
    node: Optional[str]
    sqlstate: Optional[str]
    #: For a row ``insert_many`` could not write: its index in the rows given, when known.
    row: Optional[int] = None
    #: On an error raised by ``insert_many``: what it wrote before the error.
    report: Optional[InsertReport] = None

    def __init__(
        self,
        msg: str = "",
        errno: Optional[int] = None,
        node: Optional[str] = None,
        sqlstate: Optional[str] = None,
        **details: object,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.errno = errno
        self.node = node
        self.sqlstate = sqlstate
        for name, value in details.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return self.msg


class InterfaceError(Error):
    """Misuse of the library itself: bad addresses, bad arguments, a closed MultiMaster."""


class DatabaseError(Error):
    """An error reported by (or about) the database."""


class InternalError(DatabaseError):
    """The database's state is inconsistent with what was asked: a multi-row INSERT whose reply
    was lost found partly committed (``found`` of ``expected`` keys), which one statement cannot
    do, so another writer wrote some of the same keys. Nothing was written again.

    ``found`` and ``expected`` are those key counts (``None`` when not about a batch).
    """

    found: Optional[int] = None
    expected: Optional[int] = None


class OperationalError(DatabaseError):
    """The database could not do it: access denied, unknown database, connection trouble.

    ``statement`` is the SQL that was running when the server closed its connection while the
    node still answers (so it was not carried on to another node), else ``None``. ``attempts``
    is how many times a statement was tried when it kept being refused with retryable errors
    (conflicts, lock waits) until its retries ran out, else ``None``.
    """

    statement: Optional[str] = None
    attempts: Optional[int] = None


class ProgrammingError(DatabaseError):
    """The statement is wrong: syntax error, unknown table or column, wrong parameter count."""


class IntegrityError(DatabaseError):
    """A constraint refused the write: duplicate key, NULL in a NOT NULL column, foreign key."""


class DataError(DatabaseError):
    """A value does not fit: too long for its column, out of range, not a valid date."""


class NotSupportedError(DatabaseError):
    """The server does not support what was asked."""


class AllNodesDownError(OperationalError):
    """No node could run the statement within ``failover_timeout``.

    ``waited`` is how long the call looked for a live node, in seconds.
    """

    waited: float = 0.0


class AmbiguousCommitError(OperationalError):
    """A write was sent but its connection died before the reply: it may or may not have
    committed, and nothing told which. ``statement`` is the SQL that was in flight on ``node``.

    Give the write a key (``execute(..., key=(table, column, value))``) or declare it
    ``idempotent=True`` to let multimaster resolve or retry it instead.
    """

    statement: Optional[str] = None


class TransactionReplayError(OperationalError):
    """A DB-API transaction the database interrupted before COMMIT (its node died, a
    certification conflict) could not be replayed as the application saw it: a statement
    answered differently on another node (its rows, row count or generated id), failed there,
    or the transaction outgrew the replay log (1,000 statements or 16 MiB of SQL and
    parameters). It was rolled back, nothing of it committed; the application may run it
    again. ``statement`` is the SQL that diverged (empty when the log overflowed).
    """

    statement: Optional[str] = None


class StatementTimeoutError(OperationalError):
    """A statement ran past ``statement_timeout`` and was killed on the server (``KILL
    QUERY``): it did not complete, and a write in it was rolled back. The node is not taken for
    failed. ``statement`` is the SQL, ``elapsed`` how long it ran and ``timeout`` the limit, in
    seconds.
    """

    statement: Optional[str] = None
    elapsed: float = 0.0
    timeout: float = 0.0
