"""Settings without a server (split from tests/cluster/test_settings.py): bad URLs and option
files refused naming the part, never the password; read_timeout refused; parse_url."""

from __future__ import annotations

import pytest

import multimaster

from support.scripts import insert_test, write_cnf


@pytest.mark.parametrize(
    "url, part",
    [
        ("mysql://admin:s3cret@127.0.0.1:notaport/demo", 'host "127.0.0.1:notaport"'),
        ("mysql://admin:s3cret@/demo", "no host"),
        ("mysql://admin:s3cret@127.0.0.1/demo?colour=red", 'unknown option "colour"'),
        ("mysql://admin:s3cret@127.0.0.1/demo?connect_timeout=soon", "connect_timeout must be"),
        ("postgres://admin:s3cret@127.0.0.1/demo", 'scheme "postgres"'),
        # An empty entry in the host list is a node left out, not a node to skip.
        ("mysql://admin:s3cret@127.0.0.1:3306,/demo", "host 2 of the list is empty"),
        ("mysql://admin:s3cret@,127.0.0.1/demo", "host 1 of the list is empty"),
        ("mysql://admin:s3cret@127.0.0.1,,127.0.0.2/demo", "host 2 of the list is empty"),
    ],
)
def test_bad_urls_are_refused_naming_the_part_never_the_password(url, part):
    with pytest.raises(multimaster.InterfaceError) as e:
        multimaster.MultiMaster(url)
    assert part in str(e.value) and "s3cret" not in str(e.value)


def test_read_timeout_in_a_url_is_refused_naming_its_successors():
    """read_timeout no longer exists: in a URL it is refused (not ignored, so a setting someone
    relied on does not silently vanish), naming what replaced it."""
    with pytest.raises(multimaster.InterfaceError) as e:
        multimaster.MultiMaster("mysql://admin:s3cret@127.0.0.1/demo?read_timeout=10")
    assert "failure_detection" in str(e.value) and "statement_timeout" in str(e.value)
    assert "s3cret" not in str(e.value)


def test_read_timeout_in_an_option_file_is_another_clients_option(tmp_path):
    """An option file's [client] group is shared with other clients (the mysql CLI, connectors
    that take read_timeout): options this library does not know are theirs and are left alone,
    read_timeout included, while the ones it reads still apply."""
    cnf = write_cnf(tmp_path, "[client]\nuser=a\nhost=127.0.0.1\nread_timeout=10\n")
    mm = multimaster.MultiMaster(read_default_file=cnf, connect_timeout=0.5)
    try:
        assert mm.nodes == ["127.0.0.1:3306"]
    finally:
        mm.close()


def test_from_url_wants_a_url():
    with pytest.raises(multimaster.InterfaceError, match="expected mysql://"):
        multimaster.MultiMaster.from_url("127.0.0.1:3306", user="u")


def test_the_keyword_options_are_the_cores_table():
    """`multimaster.Options` (the typed keywords) names the options of the core's one table
    (src/core/settings/options.rs), no more and no fewer."""
    assert list(multimaster.Options.__annotations__) == list(multimaster._native.OPTIONS)


def test_parse_url_hides_the_password():
    parts = multimaster.parse_url("mysql://u:p%40ss@h1,h2:3307/db?policy=parity")
    assert parts == {
        "nodes": ["h1:3306", "h2:3307"],
        "user": "u",
        "database": "db",
        "password_set": True,
        "options": {"policy": "parity"},
    }


def test_insert_test_bad_url_is_one_line():
    done = insert_test({"MULTIMASTER_URL": "mysql://admin:s3cret@h1:x/demo"})
    assert done.returncode == 2
    assert done.stderr.startswith("insert-test: MULTIMASTER_URL: bad connection URL: host")
    assert "s3cret" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text, part",
    [
        ("[client]\nuser=a\nport=x\nhost=h1\n", "port must be a number"),
        ("[client\nuser=a\n", "line 1: a group needs a closing ']'"),
        ("[client]\nuser=a\nhost=h1\nssl-capath=/etc/ssl\n", "ssl-capath is not supported"),
        ("[client]\nuser=a\nhost=h1\nssl-ca=/nonexistent/ca.pem\n", "ssl_ca: cannot read /nonexistent/ca.pem"),
        ("[client]\nuser=a\npassword=s3cret\nhost=h1:x\n", "host: bad node address"),
    ],
)
def test_bad_option_files_name_the_problem(tmp_path, text, part):
    with pytest.raises(multimaster.InterfaceError) as e:
        multimaster.MultiMaster(read_default_file=write_cnf(tmp_path, text))
    assert part in str(e.value) and "s3cret" not in str(e.value)


def test_missing_option_file_and_missing_nodes(tmp_path):
    with pytest.raises(multimaster.InterfaceError, match="cannot read option file"):
        multimaster.MultiMaster(read_default_file=str(tmp_path / "nope.cnf"), user="u")
    with pytest.raises(multimaster.InterfaceError, match="no nodes"):
        multimaster.MultiMaster(user="u")
