"""What mysql+multimaster:// can do, for SQLAlchemy's compliance suite: SQLAlchemy's own
SuiteRequirements (what it assumes of any dialect), with what this driver opens beyond those
defaults and each requirement it closes, with the one-line reason why."""

from __future__ import annotations

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements


class Requirements(SuiteRequirements):
    # ---- opened: the driver claims these, so the suite tests them ----------------------------

    @property
    def autocommit(self) -> exclusions.compound:
        # AUTOCOMMIT is the DB-API connection's own autocommit mode (the dialect's set_isolation_level).
        return exclusions.open()

    @property
    def isolation_level(self) -> exclusions.compound:
        # SET SESSION TRANSACTION ISOLATION LEVEL, recorded by the session and re-applied after a failover.
        return exclusions.open()

    @property
    def savepoints(self) -> exclusions.compound:
        # SAVEPOINT, ROLLBACK TO and RELEASE are statements of the DB-API transaction, replayed
        # with it after a failover (tests/cluster/test_dbapi_transactions.py).
        return exclusions.open()

    # ---- as SQLAlchemy's own test requirements say for its MySQL/MariaDB dialects -------------

    @property
    def views(self) -> exclusions.compound:
        # MySQL has views; SuiteRequirements leaves them closed, and with them the reflection
        # fixtures' views (get_view_names then found none).
        return exclusions.open()

    @property
    def reflect_table_options(self) -> exclusions.compound:
        # MySQL's dialect reflects ENGINE, CHARSET and the like as table options.
        return exclusions.open()

    @property
    def unique_index_reflect_as_unique_constraints(self) -> exclusions.compound:
        # MySQL keeps a UNIQUE constraint as a unique index: reflected as both.
        return exclusions.open()

    @property
    def unique_constraints_reflect_as_index(self) -> exclusions.compound:
        # The same unique index, seen from get_indexes(): it reflects as an index too.
        return exclusions.open()

    @property
    def foreign_keys_reflect_as_index(self) -> exclusions.compound:
        # InnoDB indexes a foreign key's columns by itself: get_indexes() reflects that index.
        return exclusions.open()

    @property
    def sql_expression_limit_offset(self) -> exclusions.compound:
        # MySQL/MariaDB take only literals or markers in LIMIT/OFFSET, not expressions (1064).
        return exclusions.closed()

    @property
    def unbounded_varchar(self) -> exclusions.compound:
        # MySQL's VARCHAR needs a length (SQLAlchemy's MySQL dialect raises CompileError).
        return exclusions.closed()

    @property
    def datetime_microseconds(self) -> exclusions.compound:
        # SQLAlchemy's generic DateTime renders DATETIME, without fractional seconds, on MySQL:
        # the server drops them. The DB-API keeps a DATETIME(6)'s (tests/cluster/test_dbapi.py).
        return exclusions.closed()

    @property
    def time_microseconds(self) -> exclusions.compound:
        # The same for the generic Time (TIME, no fractional seconds); TIME(6) keeps them.
        return exclusions.closed()

    @property
    def precision_generic_float_type(self) -> exclusions.compound:
        # The generic Float is MySQL's single-precision FLOAT: about 7 significant digits, not
        # the seven decimal places the suite asks for.
        return exclusions.closed()

    # ---- closed: what the driver does not do -------------------------------------------------

    @property
    def date_implicit_bound(self) -> exclusions.compound:
        # A datetime.date parameter goes as the binary protocol's DATETIME (the mysql crate
        # has one temporal value type for both), so `SELECT ?` answers a datetime; a DATE
        # column still gives datetime.date.
        return exclusions.closed()

    @property
    def server_side_cursors(self) -> exclusions.compound:
        # The DB-API reads each result whole in execute(): there is no streaming cursor.
        return exclusions.closed()

    @property
    def sequences(self) -> exclusions.compound:
        # Galera refuses CREATE SEQUENCE with a CACHE unless INCREMENT BY 0 (MariaDB error 1235).
        return exclusions.closed()

    @property
    def temporary_tables(self) -> exclusions.compound:
        # A temporary table lives in one server session; the DB-API closes the connection once
        # its transaction ends (it cannot be carried to another node), so the suite's fixtures fail.
        return exclusions.closed()

    @property
    def temp_table_reflection(self) -> exclusions.compound:
        # As temporary_tables: the suite reflects temporary tables across statements and transactions.
        return exclusions.closed()
