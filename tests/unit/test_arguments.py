"""What needs no server (split from tests/cluster/test_basics.py): malformed addresses and
options refused, parse_address, the PEP 249 exception tree."""

from __future__ import annotations

import pytest

import multimaster
from multimaster import MultiMaster


@pytest.mark.parametrize("address", ["db:abc", "db:0", "[::1", "mysql://db", "", "a:b:c"])
def test_malformed_address(address):
    with pytest.raises(multimaster.InterfaceError, match="bad node address"):
        MultiMaster(["127.0.0.1", address], user="u")


def test_parse_address():
    assert multimaster.parse_address("db") == ("db", 3306)
    assert multimaster.parse_address("[::1]:3307") == ("::1", 3307)
    with pytest.raises(multimaster.InterfaceError):
        multimaster.parse_address("db:xx")


def test_bad_options():
    with pytest.raises(multimaster.InterfaceError, match="user is required"):
        MultiMaster(["127.0.0.1"])
    with pytest.raises(multimaster.InterfaceError, match="policy"):
        MultiMaster(["127.0.0.1"], user="u", policy="random")  # type: ignore[arg-type]  # deliberately not a policy
    with pytest.raises(multimaster.InterfaceError, match="failure_detection"):
        MultiMaster(["127.0.0.1"], user="u", failure_detection=0)
    with pytest.raises(multimaster.InterfaceError, match="statement_timeout"):
        MultiMaster(["127.0.0.1"], user="u", statement_timeout=0)
    # read_timeout is gone (a node's liveness is no longer a statement's time): not an option.
    with pytest.raises(TypeError, match="read_timeout"):
        MultiMaster(["127.0.0.1"], user="u", read_timeout=10)  # type: ignore[call-arg]
    with pytest.raises(multimaster.InterfaceError, match="listed twice"):
        MultiMaster(["127.0.0.1", "127.0.0.1:3306"], user="u")


def test_exceptions_are_a_pep249_hierarchy():
    assert issubclass(multimaster.AllNodesDownError, multimaster.OperationalError)
    assert issubclass(multimaster.AmbiguousCommitError, multimaster.OperationalError)
    for name in ["InterfaceError", "DatabaseError"]:
        assert issubclass(getattr(multimaster, name), multimaster.Error)
    for name in ["OperationalError", "IntegrityError", "ProgrammingError", "DataError"]:
        assert issubclass(getattr(multimaster, name), multimaster.DatabaseError)
