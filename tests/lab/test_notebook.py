"""The course demo notebook (`multimaster notebook`), executed headless as a user would run it:
built into a temporary directory, run cell by cell by nbclient in an ipykernel of this very
interpreter, against a real lab of its own (MULTIMASTER_LAB_DIR / MULTIMASTER_LAB_HOSTS, so it
collides with no other lab), then judged by its saved outputs only:

- no cell has an error output (and no traceback went to stderr);
- the count cell says 100 % of the rows and 100 % distinct (it also asserts so itself);
- jupysql's `%sql` cell, through the `mysql+multimaster://` engine, counts the same rows;
- the timeline is an SVG (well-formed XML) with a node-down mark for each node, which the
  timeline draws only for events inside the run: both crashes happened mid-run;
- the events table names both nodes, each with a node_down row;
- the live view's final state is in the saved notebook: one display, done == total;
- the scheduled crashes and restarts all ran, and the lab was brought down by the last cell;
- the password appears nowhere in the notebook file.

The lab is brought down afterwards even when the notebook fails.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from multimaster_lab.coursedata import PASSWORD
from multimaster_lab.lab import Lab, LabError
from multimaster_lab.notebook import write

from support.labs import lab_processes, needs_lab

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="ipykernel is not installed: pip install -e '.[test]'")

LAB_DIR = os.environ.get("MULTIMASTER_TEST_NOTEBOOK_DIR", "/tmp/multimaster-pytest-notebook")
LAB_HOSTS = os.environ.get("MULTIMASTER_TEST_NOTEBOOK_HOSTS", "127.0.64.1,127.0.64.2")
# Smaller and faster than the course (100 rows, 0.5 s), still long enough for both crashes to
# land mid-run: node 1 goes at row 16 and is back ~10 s later (eviction, then IST); node 2 at
# row 44, or once node 1 is back if that is later. Each crash stalls the loop ~6 s, so node 1's
# restart may take ~25 s and node 2 still be crashed before the last row.
ROWS, INTERVAL = 80, 0.25
# Per cell: `lab up` takes up to 120 s, a restart 90 s; the insert cell covers both crashes.
CELL_TIMEOUT = 600
KERNEL = "multimaster-test"


pytestmark = needs_lab


def bring_down() -> None:
    try:
        Lab.load(LAB_DIR).down()
    except LabError:
        pass  # no lab.json: nothing of ours is running


@pytest.fixture
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A kernel spec for this interpreter (so a fresh venv needs no `ipykernel install`, and a
    user's own `python3` kernel elsewhere cannot be picked), Jupyter's and IPython's files kept
    in tmp_path, and the lab's place for the kernel to inherit."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "multimaster test kernel",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MULTIMASTER_LAB_DIR", LAB_DIR)
    monkeypatch.setenv("MULTIMASTER_LAB_HOSTS", LAB_HOSTS)
    bring_down()  # what a killed earlier run left
    assert not lab_processes(LAB_DIR), "a lab process from an earlier run is still there"
    try:
        yield tmp_path
    finally:
        bring_down()
        assert not lab_processes(LAB_DIR), "a lab process outlived the notebook test"


def cell(nb: Any, cell_id: str) -> Any:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def texts(c: Any, mime: str) -> List[str]:
    """Every `mime` payload of a code cell's outputs (stream text counts as text/plain)."""
    found = []
    for out in c.get("outputs", []):
        if out.get("output_type") == "stream" and mime == "text/plain":
            found.append(out.get("text", ""))
        data = out.get("data", {})
        if mime in data:
            value = data[mime]
            found.append("".join(value) if isinstance(value, list) else value)
    return found


def describe(nb: Any) -> str:
    """The outputs of every code cell, shortened: what a failed assertion shows."""
    lines = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        lines.append(f"--- [{c.get('id')}]")
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                lines.append(f"ERROR {out.get('ename')}: {out.get('evalue')}")
                lines.extend(re.sub(r"\x1b\[[0-9;]*m", "", t) for t in out.get("traceback", [])[-5:])
            elif out.get("output_type") == "stream":
                lines.append(f"{out.get('name')}: {out.get('text', '')[-1500:]}")
            else:
                lines.append(str(out.get("data", {}).get("text/plain", ""))[-1500:])
    return "\n".join(lines)


@pytest.mark.timeout(CELL_TIMEOUT + 300)
def test_course_notebook_runs_headless(jupyter_env: Path) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    tmp = jupyter_env
    path = write(tmp, rows=ROWS, interval=INTERVAL)
    assert PASSWORD not in path.read_text(), "the password is written into a cell"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)

    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL, resources={"metadata": {"path": str(tmp)}})
    started = time.monotonic()
    failure = None
    try:
        client.execute()
    except CellExecutionError as e:
        failure = e
    finally:
        executed = tmp / "course-demo.executed.ipynb"
        nbformat.write(nb, executed)
        print(f"notebook ran in {time.monotonic() - started:.0f} s; saved as {executed}")
    assert failure is None, f"a cell failed:\n{describe(nb)}"
    # The last cell brought the lab down by itself (the fixture only makes sure).
    assert not (Path(LAB_DIR) / "lab.json").exists(), "the notebook's last cell left the lab up"
    nb = nbformat.read(executed, as_version=4)  # judge what was saved, not what is in memory
    outputs = describe(nb)

    # No error output anywhere, and no traceback printed by a background thread.
    for c in nb.cells:
        for out in c.get("outputs", []):
            assert out.get("output_type") != "error", f"[{c.get('id')}] failed:\n{outputs}"
            if out.get("output_type") == "stream":
                assert "Traceback" not in out.get("text", ""), f"[{c.get('id')}]:\n{outputs}"

    # The count: every row, each once.
    count = "".join(texts(cell(nb, "count"), "text/plain"))
    assert f"rows: {ROWS} of {ROWS} (100 %), distinct titles: {ROWS} of {ROWS} (100 %)" in count, outputs
    assert "OK: every row written exactly once" in count, outputs

    # The same count through jupysql's %sql on the mysql+multimaster:// engine: its table's
    # text form holds one row, ROWS and ROWS (jupysql's ResultSet, drawn by prettytable).
    sql_count = "".join(texts(cell(nb, "sql-count"), "text/plain"))
    assert "found" in sql_count and "distinct_titles" in sql_count, outputs
    assert re.search(rf"\|\s*{ROWS}\s*\|\s*{ROWS}\s*\|", sql_count), f"%sql's count is not {ROWS}, {ROWS}:\n{sql_count}"

    # The live view: one display, updated in place, whose saved state is the finished run.
    live = [o for o in cell(nb, "insert").outputs if o.get("output_type") == "display_data"]
    assert len(live) == 1, f"expected one live display, updated in place:\n{outputs}"
    final = live[0]["data"]["text/plain"]
    final = "".join(final) if isinstance(final, list) else final
    done = re.search(r"(\d+)\s*/\s*(\d+) rows", final)
    assert done is not None and int(done.group(1)) == int(done.group(2)) == ROWS, final
    assert "finished" in "".join(texts(cell(nb, "insert"), "text/html")), final

    # The crashes and restarts: all four steps done.
    chaos = "".join(texts(cell(nb, "chaos-done"), "text/plain"))
    assert "<Scheduled, done: 4 steps" in chaos and chaos.count(": done in") == 4, chaos

    # The timeline: an SVG with a node-down mark for each node. Marks are drawn only for
    # events within the run, so both nodes were crashed while the loop ran.
    addresses = [f"{host}:3306" for host in LAB_HOSTS.split(",")]
    svgs = texts(cell(nb, "timeline"), "image/svg+xml")
    assert svgs and "<svg" in svgs[0], f"no SVG timeline:\n{outputs}"
    root = ET.fromstring(svgs[0])  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    downs = [g for g in root.iter(f"{ns}g") if "node_down" in (g.get("class") or "").split()]
    assert downs, f"no node-down mark in the timeline:\n{svgs[0][:3000]}"
    titles = [g.find(f"{ns}title") for g in downs]
    down_titles = " ".join("".join(t.itertext()) for t in titles if t is not None)
    for address in addresses:
        assert f"{address} down" in down_titles, f"{address} was not seen down during the run: {down_titles!r}"
    # The report shows the same timeline inline in its HTML.
    assert "<svg" in "".join(texts(cell(nb, "report"), "text/html")), outputs

    # The events table names both nodes, each with a node_down row.
    events = "".join(texts(cell(nb, "events"), "text/html"))
    rows = re.findall(r"<tr>(.*?)</tr>", events, re.S)
    for address in addresses:
        assert any("node_down" in r and address in r for r in rows), (
            f"no node_down row for {address} in the events table:\n{events[:3000]}"
        )
    stats = "".join(texts(cell(nb, "stats"), "text/html"))
    assert all(address in stats for address in addresses), stats[:3000]

    # The password: in no cell, no output, no metadata.
    assert PASSWORD not in executed.read_text(), "the password is in the executed notebook"
