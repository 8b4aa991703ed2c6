"""Where settings come from, end to end: connection URLs (MultiMaster(url), from_url, insert-test
--url, MULTIMASTER_URL), option files, the environment, and their precedence. The parsers' own
cases are unit tests in src/core/url.rs, optfile.rs and settings.rs."""

from __future__ import annotations

from typing import Any, Dict, List
from urllib.parse import quote

import pytest

import multimaster
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER

from support.labs import count_titles
from support.scripts import insert_test, write_cnf


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


# --- option files and the environment ---------------------------------------------------------


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
