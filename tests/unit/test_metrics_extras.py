"""The metrics extras without a server: ImportErrors naming the extra, nothing imported until
asked, the conventions' attributes."""

from __future__ import annotations

import subprocess
import sys

import pytest

import multimaster
from multimaster import conventions as cv


def test_instrument_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install multimaster\[otel\]"):
        multimaster.instrument(object())  # type: ignore[arg-type]


def test_prometheus_without_the_extra_names_it(monkeypatch):
    from multimaster.prometheus import Collector

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "prometheus_client.core", None)
    with pytest.raises(ImportError, match=r"pip install multimaster\[prometheus\]"):
        Collector(object())  # type: ignore[arg-type]


def test_nothing_imported_until_asked():
    code = (
        "import sys, multimaster, multimaster.otel, multimaster.prometheus\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('opentelemetry', 'prometheus_client')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_attributes_by_the_conventions():
    assert cv.node_attributes("[::1]:3307", "galera", "demo") == {
        "db.system.name": "mariadb",
        "server.address": "::1",
        "server.port": 3307,
        "db.namespace": "demo",
    }
    assert cv.node_attributes("db1:3306", "group-replication", None)["db.system.name"] == "mysql"
    assert cv.error_attributes(1213, "server") == {"error.type": "1213", "db.response.status_code": "1213"}
    assert cv.error_attributes(None, "connection") == {"error.type": "connection"}
    assert cv.error_attributes(None, None) == {}
    stats = {"failovers": 2, "events": {"node_down": 3}}
    assert cv.counter_value(stats, "failovers") == 2  # type: ignore[arg-type]
    assert cv.counter_value(stats, "events.node_down") == 3  # type: ignore[arg-type]
    assert cv.counter_value(stats, "events.retry") == 0  # type: ignore[arg-type]
