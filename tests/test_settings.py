"""Where settings come from, end to end: connection URLs (MultiMaster(url), from_url, insert-test
--url, MULTIMASTER_URL), option files, the environment, and their precedence. The parsers' own
cases are unit tests in src/core/url.rs, optfile.rs and settings.rs."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Dict, List
from urllib.parse import quote

import pytest

import multimaster

from conftest import DATABASE, PASSWORD, USER, count_titles


def url_of(cluster, password: str = PASSWORD, query: str = "") -> str:
    hosts = ",".join(cluster.addresses)
    return f"mysql://{USER}:{quote(password, safe='')}@{hosts}/{DATABASE}{query}"


def test_url_brings_nodes_credentials_database_and_options(cluster, table):
    url = url_of(cluster, query="?policy=sequential&connect_timeout=0.5&event_capacity=7")
    with multimaster.MultiMaster(url) as mm:
        assert mm.nodes == cluster.addresses
        assert mm.policy == "sequential"
        assert mm.query("SELECT DATABASE(), CURRENT_USER()")[0][0] == DATABASE
        mm.execute(f"INSERT INTO {table} (title) VALUES ('via-url')")
        assert PASSWORD not in repr(mm) and PASSWORD not in mm._repr_html_()
    assert count_titles(cluster, table) == (1, 1)


def test_arguments_win_over_the_url(cluster):
    url = url_of(cluster, password="wrong", query="?policy=sequential")
    with multimaster.MultiMaster.from_url(url, password=PASSWORD, policy="parity") as mm:
        assert mm.policy == "parity"
        assert mm.query("SELECT 1") == [(1,)]
    # The same URL with its own (wrong) password is refused by the server, naming no secret.
    with multimaster.MultiMaster(url) as mm:
        with pytest.raises(multimaster.OperationalError) as e:
            mm.query("SELECT 1")
    assert e.value.errno == 1045 and "wrong" not in str(e.value)


def test_sqlalchemy_host_form(cluster):
    hosts = "&".join(f"host={a}" for a in cluster.addresses)
    with multimaster.MultiMaster(f"mariadb://{USER}:{PASSWORD}@/{DATABASE}?{hosts}") as mm:
        assert mm.nodes == cluster.addresses
        assert mm.query("SELECT 1") == [(1,)]


@pytest.mark.parametrize(
    "url, part",
    [
        ("mysql://admin:s3cret@127.0.0.1:notaport/demo", 'host "127.0.0.1:notaport"'),
        ("mysql://admin:s3cret@/demo", "no host"),
        ("mysql://admin:s3cret@127.0.0.1/demo?colour=red", 'unknown option "colour"'),
        ("mysql://admin:s3cret@127.0.0.1/demo?connect_timeout=soon", "connect_timeout must be"),
        ("postgres://admin:s3cret@127.0.0.1/demo", 'scheme "postgres"'),
    ],
)
def test_bad_urls_are_refused_naming_the_part_never_the_password(url, part):
    with pytest.raises(multimaster.InterfaceError) as e:
        multimaster.MultiMaster(url)
    assert part in str(e.value) and "s3cret" not in str(e.value)


def test_url_brings_failure_detection_and_statement_timeout(cluster):
    """The new timing options as URL keys: statement_timeout=1 from the URL limits a query (it
    raises StatementTimeoutError naming that limit), failure_detection is accepted, and
    statement_timeout=none means no limit."""
    url = url_of(cluster, query="?failure_detection=1.5&statement_timeout=1")
    with multimaster.MultiMaster(url) as mm:
        with pytest.raises(multimaster.StatementTimeoutError) as e:
            mm.query("SELECT SLEEP(30) AS limited_by_the_url")
        assert e.value.timeout == pytest.approx(1.0)
    with multimaster.MultiMaster(url_of(cluster, query="?statement_timeout=none")) as mm:
        assert mm.query("SELECT SLEEP(0.5)") == [(0,)]


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


def insert_test(env_vars: dict, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AURORA_NODE", "MYSQL_PWD", "DB_", "MULTIMASTER_URL"))
    }
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-m", "multimaster.course", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_insert_test_takes_a_url_flag_or_variable(cluster, table):
    done = insert_test({}, "--url", url_of(cluster), "--count", "4", "--interval", "0", "--table", table)
    assert done.returncode == 0, done.stderr
    assert "expected 4, found 4, distinct 4, lost 0, duplicated 0" in done.stdout
    # The variable, with the password from MYSQL_PWD since the URL has none.
    url = f"mysql://{USER}@{','.join(cluster.addresses)}/{DATABASE}"
    done = insert_test(
        {"MULTIMASTER_URL": url, "MYSQL_PWD": PASSWORD}, "--count", "4", "--interval", "0", "--table", table, "--clear"
    )
    assert done.returncode == 0, done.stderr
    assert count_titles(cluster, table) == (4, 4)
    assert PASSWORD not in done.stdout + done.stderr


def test_insert_test_bad_url_is_one_line():
    done = insert_test({"MULTIMASTER_URL": "mysql://admin:s3cret@h1:x/demo"})
    assert done.returncode == 2
    assert done.stderr.startswith("insert-test: MULTIMASTER_URL: bad connection URL: host")
    assert "s3cret" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# --- option files and the environment ---------------------------------------------------------


def write_cnf(tmp_path, text: str, name: str = "my.cnf") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_option_file_brings_hosts_credentials_and_database(cluster, tmp_path, table):
    hosts = ",".join(cluster.addresses)
    cnf = write_cnf(
        tmp_path,
        f"[mysqld]\nuser = mysql\n[client]\nuser = {USER}\n"
        f'password = "{PASSWORD}"\nhost = {hosts}\ndatabase = {DATABASE}\n',
    )
    with multimaster.MultiMaster(read_default_file=cnf) as mm:
        assert mm.nodes == cluster.addresses
        mm.execute(f"INSERT INTO {table} (title) VALUES ('via-cnf')")
    assert count_titles(cluster, table) == (1, 1)


def test_precedence_argument_url_file_environment(cluster, tmp_path, monkeypatch):
    """The password is wrong everywhere but in the layer that must win, in turn."""
    hosts = ",".join(cluster.addresses)
    monkeypatch.setenv("MYSQL_PWD", "wrong-env")
    cnf = write_cnf(tmp_path, f"[client]\nuser={USER}\npassword=wrong-file\nhost={hosts}\n")
    url_wrong = url_of(cluster, password="wrong-url")
    url_bare = f"mysql://{USER}@{hosts}/{DATABASE}"
    cases: List[Dict[str, Any]] = [
        dict(nodes=url_wrong, password=PASSWORD, read_default_file=cnf),  # argument wins
        dict(nodes=url_of(cluster), read_default_file=cnf),  # URL over file
        dict(
            nodes=url_bare, read_default_file=write_cnf(tmp_path, f"[client]\npassword={PASSWORD}\n", "right.cnf")
        ),  # file over env
    ]
    for kwargs in cases:
        with multimaster.MultiMaster(**kwargs) as mm:
            assert mm.query("SELECT 1") == [(1,)], kwargs
    monkeypatch.setenv("MYSQL_PWD", PASSWORD)  # environment last
    with multimaster.MultiMaster(url_bare) as mm:
        assert mm.query("SELECT 1") == [(1,)]
    with multimaster.MultiMaster(url_bare, read_default_file=cnf) as mm:  # the file beats it
        with pytest.raises(multimaster.OperationalError) as e:
            mm.query("SELECT 1")
        assert e.value.errno == 1045


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
