"""TLS against a lab whose nodes require it (`Lab(tls=True)`: a private CA, X.509 v3 server
certificates with the nodes' IP addresses as SANs, require_secure_transport=ON): every
ssl_mode, each bad configuration refused at once as a configuration error (never a node
taken for dead), and the course's crash-and-restart scenario under VERIFY_IDENTITY."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

import multimaster
from multimaster_lab.coursedata import DATABASE, PASSWORD, USER
from multimaster_lab.lab import Lab
from multimaster_lab.lab import tls as labtls

from support.bounds import SLACK
from support.faultproxy import FaultProxy
from support.labs import COURSE_DDL, count_titles, needs_lab, running_lab
from support.threads import Writer, crash_and_rejoin_each

TLS_DIR = os.environ.get("MULTIMASTER_TEST_TLS_DIR", "/tmp/multimaster-pytest-tls")
TLS_HOSTS = os.environ.get("MULTIMASTER_TEST_TLS_HOSTS", "127.0.70.1,127.0.70.2").split(",")
CONNECT = 1.0
# A refusal at connect costs at most one connect (TCP, handshake, TLS), bounded as a whole.
REFUSED_WITHIN = 1.5 * CONNECT + SLACK

pytestmark = needs_lab


@pytest.fixture(scope="module")
def tls_lab() -> Iterator[Lab]:
    with running_lab(2, base_dir=TLS_DIR, hosts=TLS_HOSTS, tls=True) as lab:
        yield lab


def connect(lab: Lab, nodes=None, **tls) -> multimaster.MultiMaster:
    return multimaster.MultiMaster(nodes or lab.addresses, DATABASE, USER, PASSWORD, connect_timeout=CONNECT, **tls)


def ca(lab: Lab) -> str:
    return str(lab.tls_files["ca"])


def cipher_on_each_node(lab: Lab, **tls) -> list:
    ciphers = []
    for address in lab.addresses:
        with connect(lab, [address], **tls) as mm:
            ((_, cipher),) = mm.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            ciphers.append(cipher)
    return ciphers


@pytest.mark.parametrize(
    "tls",
    [
        dict(ssl_mode="REQUIRED"),
        dict(ssl_mode="verify_ca", ssl_ca="CA"),
        dict(ssl_ca="CA"),  # a CA alone means VERIFY_CA, as for the mysql client
        dict(ssl_mode="VERIFY_IDENTITY", ssl_ca="CA"),
        dict(ssl_mode="REQUIRED", ssl_cert="CLIENT_CERT", ssl_key="CLIENT_KEY"),
    ],
)
def test_every_mode_encrypts_every_node(tls_lab, tls):
    files = {
        "CA": ca(tls_lab),
        "CLIENT_CERT": str(tls_lab.tls_files["client-cert"]),
        "CLIENT_KEY": str(tls_lab.tls_files["client-key"]),
    }
    tls = {k: files.get(v, v) for k, v in tls.items()}
    assert all(cipher_on_each_node(tls_lab, **tls)), tls


def refused(lab: Lab, nodes=None, **tls) -> tuple[multimaster.Error, float, multimaster.MultiMaster]:
    mm = connect(lab, nodes, **tls)
    started = time.monotonic()
    with pytest.raises(multimaster.Error) as e:
        mm.query("SELECT 1")
    took = time.monotonic() - started
    return e.value, took, mm


def test_plain_tcp_is_refused_with_a_hint(tls_lab):
    e, took, mm = refused(tls_lab)
    assert isinstance(e, multimaster.OperationalError) and e.errno == 1045
    assert "the server may require TLS" in str(e)
    assert took < REFUSED_WITHIN
    assert [s["state"] for s in mm.stats()] == ["up", "up"], "a refused login is not a dead node"
    mm.close()


def test_a_name_not_in_the_certificate_is_refused_by_verify_identity(tls_lab):
    """Through a proxy on 127.0.0.1, an address the certificate does not name: VERIFY_IDENTITY
    refuses it, VERIFY_CA (no name check) accepts the same certificate."""
    host, port = tls_lab.addresses[0].split(":")
    with FaultProxy((host, int(port))) as proxy:
        via = [proxy.endpoint]
        e, took, mm = refused(tls_lab, via, ssl_mode="VERIFY_IDENTITY", ssl_ca=ca(tls_lab))
        assert type(e) is multimaster.InterfaceError and "certificate" in str(e).lower(), repr(e)
        assert took < REFUSED_WITHIN
        assert mm.stats()[0]["state"] == "up"
        mm.close()
        with connect(tls_lab, via, ssl_mode="VERIFY_CA", ssl_ca=ca(tls_lab)) as mm:
            assert mm.query("SELECT 1") == [(1,)]


def test_a_certificate_from_another_ca_is_refused(tls_lab, tmp_path):
    other = labtls.make(tmp_path / "other", ["127.0.0.1"])
    e, took, mm = refused(tls_lab, ssl_mode="VERIFY_CA", ssl_ca=str(other["ca"]))
    assert type(e) is multimaster.InterfaceError and "certificate" in str(e).lower(), repr(e)
    assert took < REFUSED_WITHIN
    assert [s["state"] for s in mm.stats()] == ["up", "up"]
    mm.close()


def test_bad_tls_files_are_refused_when_given(tls_lab, tmp_path):
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("not a certificate")
    cases = [
        (dict(ssl_mode="VERIFY_CA", ssl_ca=str(tmp_path / "missing.pem")), "ssl_ca: cannot read"),
        (dict(ssl_mode="VERIFY_CA", ssl_ca=str(not_pem)), "holds no PEM certificate"),
        (dict(ssl_mode="REQUIRED", ssl_cert=str(tls_lab.tls_files["client-cert"])), "go together"),
        (dict(ssl_mode="SOMETIMES"), "unknown ssl_mode"),
    ]
    for tls, want in cases:
        with pytest.raises(multimaster.InterfaceError, match=want):
            connect(tls_lab, **tls)


def test_tls_required_of_a_server_without_it(make_mm, cluster):
    """The plain lab speaks no TLS: REQUIRED is refused at once, naming TLS."""
    mm = make_mm(ssl_mode="REQUIRED")
    started = time.monotonic()
    with pytest.raises(multimaster.InterfaceError, match="TLS") as e:
        mm.query("SELECT 1")
    assert time.monotonic() - started < REFUSED_WITHIN, repr(e.value)
    assert [s["state"] for s in mm.stats()] == ["up", "up"]


def test_course_scenario_under_verify_identity(tls_lab):
    """kill -9 each node in turn under the running loop, over VERIFY_IDENTITY: every row once."""
    table = f"tls_{os.getpid()}"
    tls_lab.sql(1, COURSE_DDL.format(table=f"{DATABASE}.{table}"))
    mm = connect(tls_lab, ssl_mode="VERIFY_IDENTITY", ssl_ca=ca(tls_lab), backoff_cap=1.0)
    writer = Writer(mm, table).start()
    try:
        crash_and_rejoin_each(tls_lab, mm, writer, CONNECT, backoff_cap=1.0)
    finally:
        writer.stop()
        mm.close()
    writer.check()
    assert count_titles(tls_lab, table) == (writer.written, writer.written)
    assert all(Path(p).exists() for p in tls_lab.tls_files.values())
