"""What needs no server in the DB-API's transactions: which statements MySQL commits by
itself (they commit the open transaction first, then run on their own), and the replay error's
place in the PEP 249 tree."""

from __future__ import annotations

import pytest

import multimaster
from multimaster import dbapi


@pytest.mark.parametrize(
    "sql, commits",
    [
        ("CREATE TABLE t (a INT)", True),
        ("  /* c */ drop table t", True),
        ("ALTER TABLE t ADD b INT", True),
        ("TRUNCATE t", True),
        ("RENAME TABLE a TO b", True),
        ("GRANT SELECT ON *.* TO u", True),
        ("CREATE TEMPORARY TABLE t (a INT)", False),
        ("DROP TEMPORARY TABLE t", False),
        ("INSERT INTO t VALUES (1)", False),
        ("SELECT 1", False),
        ("SET @v = 1", False),
        ("USE demo", False),
        ("", False),
    ],
)
def test_statements_that_commit_by_themselves(sql, commits) -> None:
    assert dbapi.commits_by_itself(sql) is commits


@pytest.mark.parametrize(
    "sql, control",
    [
        ("COMMIT", "commit"),
        ("commit work;", "commit"),
        (" /* c */ ROLLBACK", "rollback"),
        ("BEGIN", "begin"),
        ("START  TRANSACTION", "begin"),
        ("ROLLBACK TO SAVEPOINT s", None),
        ("SELECT 'COMMIT'", None),
        ("", None),
    ],
)
def test_transaction_control_statements(sql, control) -> None:
    assert dbapi.transaction_control(sql) == control


def test_start_transaction_with_characteristics_is_refused() -> None:
    with pytest.raises(multimaster.NotSupportedError, match="SET TRANSACTION READ ONLY"):
        dbapi.transaction_control("START TRANSACTION READ ONLY")


def test_replay_error_is_an_operational_error() -> None:
    assert issubclass(multimaster.TransactionReplayError, multimaster.OperationalError)
    assert "TransactionReplayError" in multimaster.__all__
