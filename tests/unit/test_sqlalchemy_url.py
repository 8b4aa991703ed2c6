"""The SQLAlchemy dialect's URL handling, without a server: both host-list forms give the same
nodes, options arrive typed, and a wrong key, a bad port, an empty host entry or a value of the
wrong type is an error naming it, with the password in no error and no repr."""

from __future__ import annotations

import pytest

pytest.importorskip("sqlalchemy")

from sqlalchemy import create_engine, exc  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from multimaster.sqlalchemy import MultiMasterDialect_mariadb, MultiMasterDialect_mysql  # noqa: E402

SECRET = "s3cr3t-pw"


def args(url: str):
    dialect = MultiMasterDialect_mysql()
    return dialect.create_connect_args(make_url(url))


def test_both_host_list_forms_give_the_same_nodes() -> None:
    comma = args(f"mysql+multimaster://u:{SECRET}@db1,db2:3307/demo")
    query = args(f"mysql+multimaster://u:{SECRET}@/demo?host=db1&host=db2:3307")
    assert comma == query
    assert comma[0] == [["db1", "db2:3307"]]
    assert comma[1] == {"database": "demo", "user": "u", "password": SECRET}
    # A host in the URL's place and more in ?host= add up.
    assert args("mysql+multimaster://u@db1/demo?host=db2")[0] == [["db1", "db2"]]


def test_options_are_typed() -> None:
    _, kwargs = args(
        "mysql+multimaster://u@db1/demo?connect_timeout=1.5&max_retries=3&policy=sequential"
        "&commit_marker=true&autocommit=0&causal_reads=no&ssl_mode=REQUIRED&charset=utf8mb4"
        "&discover=true&discover_interval=2"
    )
    assert kwargs["discover"] is True and kwargs["discover_interval"] == 2.0
    assert kwargs["connect_timeout"] == 1.5 and kwargs["max_retries"] == 3
    assert kwargs["policy"] == "sequential" and kwargs["ssl_mode"] == "REQUIRED"
    assert kwargs["commit_marker"] is True and kwargs["autocommit"] is False and kwargs["causal_reads"] is False


@pytest.mark.parametrize(
    "query, named",
    [
        ("conect_timeout=1", "conect_timeout"),
        ("connect_timeout=soon", "connect_timeout"),
        ("max_retries=many", "max_retries"),
        ("commit_marker=maybe", "commit_marker"),
        ("discover=maybe", "discover"),
        ("policy=random", "policy"),
        ("charset=latin1", "charset"),
        ("host=db2:99999", "db2:99999"),
        ("host=db2:http", "db2:http"),
    ],
)
def test_a_bad_key_or_value_names_it(query: str, named: str) -> None:
    with pytest.raises(exc.ArgumentError, match=named) as raised:
        args(f"mysql+multimaster://u:{SECRET}@db1/demo?{query}")
    assert SECRET not in str(raised.value)
    # create_engine reads the URL at once: the mistake is found before any connection.
    with pytest.raises(exc.ArgumentError, match=named):
        create_engine(f"mysql+multimaster://u:{SECRET}@db1/demo?{query}")


def test_empty_entries_in_the_comma_list_are_refused() -> None:
    # (An empty `?host=` never reaches the dialect: make_url drops blank query values.)
    for hosts in ("db1,,db2", ",db1", "db1,"):
        with pytest.raises(exc.ArgumentError, match="empty entry"):
            args(f"mysql+multimaster://u@{hosts}/demo")


def test_entry_points_and_reprs() -> None:
    engine = create_engine(f"mysql+multimaster://u:{SECRET}@db1,db2:3307/demo")
    assert type(engine.dialect) is MultiMasterDialect_mysql and not engine.dialect.is_mariadb
    assert SECRET not in repr(engine) and SECRET not in str(engine.url)
    mariadb = create_engine(f"mariadb+multimaster://u:{SECRET}@/demo?host=db1&host=db2")
    assert type(mariadb.dialect) is MultiMasterDialect_mariadb and mariadb.dialect.is_mariadb
    assert mariadb.dialect.name == "mariadb" and mariadb.dialect.driver == "multimaster"
    assert mariadb.dialect.paramstyle == "qmark" and mariadb.dialect.supports_statement_cache


def test_import_multimaster_does_not_import_sqlalchemy() -> None:
    import subprocess
    import sys

    code = "import sys, multimaster; print('sqlalchemy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_which_errors_are_disconnects() -> None:
    import multimaster

    dialect = create_engine("mysql+multimaster://u@db1/demo").dialect
    gone = [
        multimaster.OperationalError("server has gone away", errno=2006),
        multimaster.OperationalError("lost connection", errno=2013),
        multimaster.AllNodesDownError("all nodes down"),
        multimaster.InterfaceError("the connection is closed"),
    ]
    for e in gone:
        assert dialect.is_disconnect(e, None, None), e  # type: ignore[arg-type]
    stays = [multimaster.IntegrityError("duplicate", errno=1062), multimaster.TransactionReplayError("diverged")]
    for e in stays:
        assert not dialect.is_disconnect(e, None, None), e  # type: ignore[arg-type]
    assert dialect._extract_error_code(gone[0]) == 2006  # type: ignore[attr-defined]
