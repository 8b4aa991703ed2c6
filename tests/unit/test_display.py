"""The notebook and terminal views (multimaster.display), with no database: stand-ins shaped like
the native objects, and real dicts shaped like what the Rust side hands over."""

from __future__ import annotations

import io
import types
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, Dict, List

import pytest

from multimaster import display
from multimaster.display import Events, Stats, Timeline, progress_sink

if TYPE_CHECKING:
    from multimaster import Event, NodeStats

EVIL = "<script>alert(1)</script>"
PASSWORD = "s3cret-never-shown"
N1, N2 = "127.0.10.1:3306", "127.0.10.2:3306"
T0 = 1_700_000_000.25
SVG = "{http://www.w3.org/2000/svg}"


def event(dt: float, kind: str, node: str, detail: str = "") -> Event:
    return {"time": T0 + dt, "kind": kind, "node": node, "detail": detail}


def stats() -> List[NodeStats]:
    return [
        {
            "address": N1,
            "state": "down",
            "known_by": "given",
            "statements": 48,
            "errors": 3,
            "failovers": 0,
            "reconnects": 1,
            "last_error": f"2013 Lost connection {EVIL}",
            "flavour": "galera",
            "p50": 0.0004,
            "p99": 0.0123,
            "max": 6.2,
            "duration_buckets": [(0.001, 40), (0.01, 47), (float("inf"), 48)],
            "duration_sum": 6.5,
            "events": {"node_down": 1},
            "state_reason": None,
        },
        {
            "address": N2,
            "state": "up",
            "known_by": "given",
            "statements": 52,
            "errors": 0,
            "failovers": 4,
            "reconnects": 0,
            "last_error": None,
            "flavour": None,
            "p50": None,
            "p99": None,
            "max": None,
            "duration_buckets": [(float("inf"), 0)],
            "duration_sum": 0.0,
            "events": {},
            "state_reason": None,
        },
    ]


def events() -> List[Event]:
    return [
        event(10.0, "node_down", N1, f"2013 Lost connection {EVIL}"),
        event(10.1, "failover", N2, f"statement failed over from {N1}"),
        event(12.0, "retry", N2, "1213 deadlock"),
        event(25.0, "node_up", N1, "reconnected"),
        event(30.0, "node_down", N2, "2003 refused"),
        event(40.0, "node_up", N2, "reconnected"),
    ]


def timeline_data() -> Dict[str, Any]:
    # The course at 0.5 s per row in 0.1 s buckets: node 1 takes even rows, node 2 odd ones,
    # node 2 takes everything while node 1 is down (10 s .. 25 s).
    buckets = 500
    rows = [[0] * buckets, [0] * buckets]
    for x in range(100):
        k = x * 5
        node = x % 2 if not 100 <= k < 250 else 1
        rows[node][k] += 1
    return {"started": T0, "elapsed": 50.0, "bucket": 0.1, "nodes": [N1, N2], "rows": rows, "events": events()}


def mm() -> Any:
    # Built with a password that it does not keep, like the native object.
    def make(password: str) -> Any:
        return types.SimpleNamespace(nodes=[N1, N2], policy="parity", closed=False, stats=stats)

    return make(PASSWORD)


def report() -> Any:
    data = timeline_data()
    per_node = {n: sum(r) for n, r in zip(data["nodes"], data["rows"])}
    return types.SimpleNamespace(
        rows=100,
        per_node=per_node,
        retries=1,
        failovers=1,
        rerouted=15,
        ambiguous_resolved=0,
        elapsed=50.0,
        timeline_data=data,
    )


def txresult() -> Any:
    return types.SimpleNamespace(value={"msg": EVIL}, attempts=2, node=N2)


def views() -> Dict[str, Any]:
    """Every view as (text/html, text/plain)."""
    t = Timeline(timeline_data())
    return {
        "multimaster": (display.multimaster_html(mm()), display.multimaster_text(mm())),
        "report": (display.report_html(report()), display.report_text(report())),
        "txresult": (display.txresult_html(txresult()), display.txresult_text(txresult())),
        "stats": (Stats(stats())._repr_html_(), pretty(Stats(stats()))),
        "events": (Events(events())._repr_html_(), pretty(Events(events()))),
        "timeline": (t._repr_html_(), repr(t)),
        "timeline-svg": (t._repr_svg_(), repr(t)),
    }


def pretty(obj: Any) -> str:
    from IPython.lib.pretty import pretty as ipython_pretty

    return ipython_pretty(obj)


@pytest.mark.parametrize("name", list(views()))
def test_every_view_has_html_and_text_escaped_without_scripts(name: str) -> None:
    html, text = views()[name]
    assert html.strip() and text.strip()
    assert "<script" not in html.lower()
    assert PASSWORD not in html and PASSWORD not in text
    if name not in ("timeline", "timeline-svg"):  # the timeline shows no server message
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ipython_formatter_uses_the_views() -> None:
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(Events(events()))
    assert {"text/plain", "text/html"} <= set(data)
    assert "node_down" in data["text/plain"] and "{'time'" not in data["text/plain"]
    data, _ = DisplayFormatter().format(Timeline(timeline_data()))
    assert {"text/plain", "text/html", "image/svg+xml"} <= set(data)


def test_multimaster_view_shows_one_row_per_node() -> None:
    html, text = views()["multimaster"]
    assert html.count("<tr>") == 1 + 2  # header + nodes
    for word in (N1, N2, "galera", "parity", "down", "up", "48", "52"):
        assert word in html and word in text


def test_a_closed_instance_whose_stats_raise_still_shows() -> None:
    def refuse() -> None:
        raise RuntimeError("closed")

    closed = types.SimpleNamespace(nodes=[N1], policy="sequential", closed=True, stats=refuse)
    assert N1 in display.multimaster_html(closed) and "closed" in display.multimaster_text(closed)


def test_stats_and_events_stay_lists() -> None:
    s, e = Stats(stats()), Events(events())
    assert isinstance(s, list) and isinstance(e, list)
    assert len(s) == 2 and s[0]["address"] == N1 and s == stats()
    assert len(e) == 6 and e[-1]["kind"] == "node_up" and [x["kind"] for x in e[:2]] == ["node_down", "failover"]


def test_events_show_local_time_to_the_millisecond() -> None:
    import time

    expected = time.strftime("%H:%M:%S", time.localtime(T0 + 10.0)) + ".250"
    assert expected in Events(events())._repr_html_()
    assert expected in pretty(Events(events()))


def test_a_long_event_ring_shows_its_newest() -> None:
    many = Events(event(i, "retry", N1, f"d{i}") for i in range(1000))
    html = many._repr_html_()
    assert html.count("<tr>") == 1 + display.MAX_HTML_ROWS and "d999" in html and ">d0<" not in html


@pytest.mark.parametrize("frames", ["to_pandas", "to_polars"])
def test_frames_or_an_error_naming_the_extra(frames: str) -> None:
    library = frames.split("_")[1]
    t = Timeline(timeline_data())
    for obj, nrows, columns in [
        (Stats(stats()), 2, display.STATS_COLUMNS),
        (Events(events()), 6, display.EVENT_COLUMNS),
        (t, 1000, ["t", "node", "rows", "rows_per_s"]),
        (Events(), 0, display.EVENT_COLUMNS),
    ]:
        try:
            __import__(library)
        except ImportError:
            with pytest.raises(ImportError, match=rf"pip install multimaster\[{library}\]"):
                getattr(obj, frames)()
            continue
        df = getattr(obj, frames)()
        assert df.shape == (nrows, len(columns)) and list(df.columns) == columns


def test_frames_error_names_the_extra_when_the_library_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match=r"pip install multimaster\[pandas\]"):
        Stats(stats()).to_pandas()


def test_timeline_frame_holds_the_raw_buckets() -> None:
    pd = pytest.importorskip("pandas")
    df = Timeline(timeline_data()).to_pandas()
    assert df.groupby("node")["rows"].sum().to_dict() == report().per_node
    assert (df["rows_per_s"] == df["rows"] / 0.1).all() and df["t"].max() == pytest.approx(49.9)
    assert isinstance(df, pd.DataFrame)


def parse_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return root


def series(root: ET.Element) -> List[ET.Element]:
    return [e for e in root.iter(SVG + "polyline") if e.get("class") == "series"]


def marks(root: ET.Element, kind: str) -> List[ET.Element]:
    return [e for e in root.iter(SVG + "g") if e.get("class") == f"mark {kind}"]


def test_timeline_svg_has_a_series_per_node_and_a_mark_per_node_event() -> None:
    t = Timeline(timeline_data())
    root = parse_svg(t.svg())
    assert [s.get("data-node") for s in series(root)] == [N1, N2]
    assert len(marks(root, "node_down")) == 2 and len(marks(root, "node_up")) == 2
    assert len(marks(root, "failover")) == 1 and not marks(root, "retry")
    texts = " ".join(e.text or "" for e in root.iter(SVG + "text"))
    assert N1 in texts and N2 in texts and "seconds since start" in texts and "rows/s" in texts
    assert "<script" not in t.svg() and "onload" not in t.svg()
    assert t.totals() == report().per_node and sum(t.totals().values()) == 100


def test_timeline_marks_sit_at_their_time() -> None:
    root = parse_svg(Timeline(timeline_data()).svg())
    xs = sorted(float(m[1].attrib["x1"]) for m in marks(root, "node_down"))  # <title>, <line>
    axes = next(e for e in root.iter(SVG + "g") if e.get("class") == "axes")
    left, right = float(axes[0].attrib["x1"]), float(axes[0].attrib["x2"])  # the x axis
    assert xs == pytest.approx([left + (right - left) * 10 / 50, left + (right - left) * 30 / 50], abs=0.2)


def test_timeline_escapes_node_names_and_event_details() -> None:
    data = timeline_data()
    data["nodes"] = [EVIL, N2]
    data["events"] = [event(1, "node_down", EVIL, EVIL + "\x00\x1b")]
    svg = Timeline(data).svg()
    assert "<script" not in svg and "&lt;script&gt;" in svg
    parse_svg(svg)  # control characters from a server message do not break the XML


def test_timeline_of_an_empty_run_and_of_one_node() -> None:
    empty = Timeline({"started": T0, "elapsed": 0.0, "bucket": 0.1, "nodes": [N1, N2], "rows": [[], []], "events": []})
    root = parse_svg(empty.svg())
    assert not series(root) and empty.totals() == {N1: 0, N2: 0}
    assert "no rows written" in empty.svg()
    assert parse_svg(Timeline({}).svg()) is not None and Timeline({}).totals() == {}
    one = Timeline(
        {
            "started": T0,
            "elapsed": 1.0,
            "bucket": 0.1,
            "nodes": [N1],
            "rows": [[3] * 10],
            "events": [event(0.5, "failover", N1, "x")],
        }
    )
    root = parse_svg(one.svg())
    assert len(series(root)) == 1 and len(marks(root, "failover")) == 1 and one.totals() == {N1: 30}


def test_timeline_stays_bounded() -> None:
    # 2000 buckets (Rust's cap) and a burst of 5000 failovers: one mark per pixel column.
    data = {
        "started": T0,
        "elapsed": 400.0,
        "bucket": 0.2,
        "nodes": [N1, N2, "n3:3306"],
        "rows": [[i % 7 for i in range(2000)] for _ in range(3)],
        "events": [event(i * 0.08, "failover", N2, "x") for i in range(5000)],
    }
    svg = Timeline(data).svg()
    root = parse_svg(svg)
    assert len(series(root)) == 3 and len(marks(root, "failover")) <= 700
    assert len(svg) < 500_000


def test_timeline_saves_svg_and_html(tmp_path: Any) -> None:
    t = Timeline(timeline_data())
    t.save(tmp_path / "t.svg")
    t.save(str(tmp_path / "t.html"))
    parse_svg((tmp_path / "t.svg").read_text(encoding="utf-8").split("\n", 1)[1])
    ET.parse(tmp_path / "t.svg")
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page


def test_report_html_holds_the_timeline_and_the_counts() -> None:
    html, text = views()["report"]
    assert "<svg" in html and "100 rows" in html and "100 rows" in text
    for node, n in report().per_node.items():
        assert node in text and str(n) in text


def test_progress_sink_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    def mine(snapshot: Dict[str, Any]) -> None:
        pass

    assert progress_sink(False) is None and progress_sink(None) is None
    assert progress_sink(mine) is mine
    pipe = io.StringIO()  # not a TTY
    assert progress_sink(True, stream=pipe) is None
    monkeypatch.setattr("sys.stderr", pipe)
    assert progress_sink(True) is None
    with pytest.raises(TypeError):
        progress_sink("yes")


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def snapshot(done: int, **more: Any) -> Dict[str, Any]:
    s = {
        "done": done,
        "total": 100,
        "per_node": {N1: done // 2, N2: done - done // 2},
        "failovers": 0,
        "retries": 0,
        "ambiguous_resolved": 0,
        "down": [],
        "events": [],
        "elapsed": done * 0.5,
        "finished": False,
    }
    s.update(more)
    return s


def test_terminal_sink_rewrites_one_line_and_prints_events_above_it() -> None:
    tty = FakeTTY()
    sink = progress_sink(True, stream=tty)
    assert sink is not None
    sink(snapshot(40))
    sink(
        snapshot(
            41,
            down=[N1],
            failovers=1,
            events=[event(20, "node_down", N1, "2013 lost"), event(20.1, "retry", N2, "1213")],
        )
    )
    sink(snapshot(100, finished=True))
    out = tty.getvalue()
    assert "40/100" in out and "41/100" in out and "100/100" in out and "DOWN " + N1 in out
    assert out.endswith("\n") and out.count("\n") == 2  # the event line and the final one
    event_line, last, _ = out.split("\n")
    # The event line overwrites the bar it replaces (padded), then the bar is drawn again below.
    assert event_line.rstrip().endswith(f"*** {display._clock(T0 + 20)} node {N1} down: 2013 lost")
    assert "1213" not in out  # retries are counted, not printed
    assert "100/100" in last.split("\r")[-1] and "41/100" in last


def test_terminal_sink_keeps_server_control_characters_off_the_terminal() -> None:
    tty = FakeTTY()
    sink = progress_sink(True, stream=tty)
    assert sink is not None
    sink(snapshot(1, events=[event(1, "node_down", N1, "a\rb\x1b[2Jc\nd")], finished=True))
    out = tty.getvalue()
    assert "\x1b" not in out and "a b [2Jc d" in out and out.count("\n") == 2


class FakeHandle:
    def __init__(self) -> None:
        self.shown: List[Dict[str, str]] = []

    def update(self, bundle: Dict[str, str], raw: bool = False) -> None:
        self.shown.append(bundle)


def test_notebook_sink_updates_one_display_and_keeps_recent_events(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    handle = FakeHandle()
    displayed: List[Any] = []

    def fake_display(bundle: Dict[str, str], raw: bool = False, display_id: bool = False) -> FakeHandle:
        assert raw and display_id
        displayed.append(bundle)
        return handle

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(display, "_in_kernel", lambda: True)
    sink = progress_sink(True)
    assert isinstance(sink, display.NotebookProgress)
    sink(snapshot(10))
    sink(snapshot(50, down=[N1], events=[event(20, "node_down", N1, EVIL)]))
    for i in range(12):
        sink(snapshot(60 + i, events=[event(30 + i, "failover", N2, f"f{i}")]))
    sink(snapshot(100, finished=True))
    assert len(displayed) == 1 and len(handle.shown) == 14
    final = handle.shown[-1]
    assert set(final) == {"text/plain", "text/html"}
    assert "finished" in final["text/html"] and "100 / 100" in final["text/html"]
    assert "f11" in final["text/html"] and "f1<" not in final["text/html"]  # the last 10 events
    down = handle.shown[0]["text/html"]
    assert "&lt;script&gt;" in down and "<script" not in down and N1 in handle.shown[0]["text/plain"]
    assert all("<script" not in b["text/html"] for b in displayed + handle.shown)


def test_outside_a_kernel_is_not_a_kernel() -> None:
    assert display._in_kernel() is False


def test_a_draining_node_shows_its_state_and_reason() -> None:
    drained = stats()
    drained[1]["state"], drained[1]["state_reason"] = "draining", "wsrep_desync=ON"
    table = Stats(drained)
    assert "draining: wsrep_desync=ON" in table._text() and "draining: wsrep_desync=ON" in table._repr_html_()
    tty = FakeTTY()
    sink = progress_sink(True, stream=tty)
    assert sink is not None
    sink(snapshot(41, draining=[N2], events=[event(20, "node_draining", N2, "wsrep_desync=ON")]))
    out = tty.getvalue()
    assert "DRAINING " + N2 in out and f"node {N2} draining: wsrep_desync=ON" in out


def test_stats_show_statement_times_in_milliseconds() -> None:
    text, html = pretty(Stats(stats())), Stats(stats())._repr_html_()
    for shown in ("0.40 ms", "12 ms", "6200 ms"):
        assert shown in text and shown in html
    # A node without statements shows no times, not zeros.
    assert "0.00 ms" not in text


def test_progress_of_unknown_length_shows_the_rate_and_no_bar() -> None:
    from multimaster.display.progress import NotebookProgress, TerminalProgress

    out = io.StringIO()
    snapshot: Dict[str, Any] = {"done": 5000, "total": None, "elapsed": 2.0, "per_node": {}, "finished": False}
    TerminalProgress(out)(snapshot)
    line = out.getvalue()
    assert "5000 rows" in line and "2500 rows/s (total unknown)" in line and "[" not in line
    assert "total unknown" in NotebookProgress().text(snapshot)
    TerminalProgress(out)({**snapshot, "total": 10_000})
    assert " 50%" in out.getvalue()
