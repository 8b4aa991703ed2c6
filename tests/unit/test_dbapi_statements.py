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


def test_replay_error_is_an_operational_error() -> None:
    assert issubclass(multimaster.TransactionReplayError, multimaster.OperationalError)
    assert "TransactionReplayError" in multimaster.__all__
