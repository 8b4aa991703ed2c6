"""The live node table (`multimaster top`, `MultiMaster.live()`) without a server: rates from
two stats(), cells, URL rewriting, and `top` against nodes that are all down."""

from __future__ import annotations

import io
import socket
from contextlib import redirect_stdout

from multimaster.display.live import LiveView, live_html, live_text, rows_from_stats
from multimaster_lab import top

from support.bounds import SLACK, wait_for


def stats(statements: int, errors: int, state: str = "up") -> dict:
    return {
        "address": "db1:3306",
        "state": state,
        "statements": statements,
        "errors": errors,
        "failovers": 2,
        "last_error": "(2013) lost <b>",
        "p50": 0.0005,
        "p99": 0.02,
    }


def test_rates_from_two_stats():
    (first,) = rows_from_stats([stats(10, 0)], None, 1.0)
    assert first["statements_s"] is None and first["reason"] is None
    (row,) = rows_from_stats([stats(60, 3, "down")], [stats(10, 0)], 2.0)
    assert (row["statements_s"], row["errors_s"], row["failovers"]) == (25.0, 1.5, 2)
    assert row["reason"] == "(2013) lost <b>"  # a down node says why
    text = live_text([row], "t")
    assert "25.0" in text and "0.50 ms" in text and "20 ms" in text and "down" in text
    html = live_html([row], "t")
    assert "&lt;b&gt;" in html and "<b>" not in html.replace("<b>t</b>", "")


def test_one_node_url_keeps_the_rest():
    url = "mysql://u:p%40ss@h1:3306,h2/db?host=h3&connect_timeout=1"
    assert top.one_node_url(url, "h2:3306") == "mysql://u:p%40ss@h2:3306/db?connect_timeout=1"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_top_against_nodes_all_down_keeps_refreshing():
    """Nothing listens: every refresh shows both nodes down with the reason, and top goes on
    (here for three refreshes, then --iterations stops it)."""
    nodes = [f"127.0.0.1:{_closed_port()}", f"127.0.0.1:{_closed_port()}"]
    out = io.StringIO()
    argv = ["--node", nodes[0], "--node", nodes[1], "--iterations", "3", "--interval", "0.2"]
    with redirect_stdout(out):
        assert top.main(argv, env={"MYSQL_PWD": "secret-pw"}) == 0
    tables = [t for t in out.getvalue().split("\n\n") if t.strip()]
    assert len(tables) == 3
    for t in tables:
        assert "2 not up" in t
        for n in nodes:
            line = next(line for line in t.splitlines() if line.startswith(n))
            assert line.split()[1] == "down" and "connect" in line
    assert "secret-pw" not in out.getvalue()


class FakeMM:
    """stats() of an instance whose node 1 runs 10 statements per call; closed after 3 calls."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def closed(self) -> bool:
        return self.calls >= 3

    def stats(self) -> list:
        self.calls += 1
        return [stats(10 * self.calls, 0)]


def test_live_outside_a_notebook_prints_and_stops_when_closed(capsys):
    view = LiveView(FakeMM(), every=0.05)

    wait_for(lambda: not view.running, SLACK, "the live view to stop once the instance is closed")
    tables = [t for t in capsys.readouterr().out.split("multimaster live:") if t.strip()]
    assert len(tables) == 3 and "db1:3306" in tables[-1]
    rates = [line.split()[2] for t in tables for line in t.splitlines() if line.startswith("db1:3306")]
    assert rates[0] == "-" and all(float(r) > 0 for r in rates[1:])  # 10 statements per refresh


def test_live_in_a_notebook_updates_one_output(monkeypatch):
    """In a kernel: one display output (text and HTML), then updates of that same output."""
    import sys
    import types

    import multimaster.display

    shown: list = []

    class Handle:
        def update(self, bundle: dict, raw: bool) -> None:
            shown.append(("update", bundle))

    def display(bundle: dict, raw: bool, display_id: bool) -> Handle:
        shown.append(("display", bundle))
        return Handle()

    fake = types.ModuleType("IPython.display")
    fake.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setattr(multimaster.display, "_in_kernel", lambda: True)
    view = LiveView(FakeMM(), every=0.05)
    wait_for(lambda: not view.running, SLACK, "the live view to stop once the instance is closed")
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    assert all("db1:3306" in b["text/plain"] and "<table" in b["text/html"] for _, b in shown)
