"""The `multimaster` command: `multimaster lab ...` runs a local Galera cluster,
`multimaster demo` runs the course demo on it end to end, `multimaster notebook` writes that
demo as a Jupyter notebook, `multimaster top` watches any cluster live."""

from __future__ import annotations

import sys
from typing import List, Optional

USAGE = """usage: multimaster {lab,demo,notebook,top} ...

  lab up [N] | status | crash I | freeze I | thaw I | start I | stop I | restart I
      | drain I | undrain I | add [--host ADDR] | remove I | down | env
                 a local MariaDB Galera cluster on loopback (N data nodes + arbitrator)
  lab up --netns [N] | partition I [--one-way] | heal I | isolate I
                 the same in network namespaces (root), where a node can be cut off
  demo           the course demo: lab up, insert loop, each node crashed and restarted
                 mid-run, count watched, result verified, lab down; on a terminal in three
                 panes (--tmux: a tmux session of them, --lines: plain lines)
  notebook [DIR] the same demo as a Jupyter notebook: writes DIR/course-demo.ipynb
                 (--force overwrites it)
  top            a live view of any cluster's nodes (--node/--url/--defaults-file, or
                 AURORA_NODE*): state, statements/s, errors/s, p50/p99, Galera state

`multimaster lab --help`, `multimaster demo --help`, `multimaster notebook --help` and
`multimaster top --help` say more."""


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "lab":
        from multimaster_lab import lab
        from multimaster_lab.coursedata import LAB

        return lab.main(rest, **LAB)  # the course's lab: its database, user and table
    if command == "demo":
        from multimaster_lab import demo

        return demo.main(rest)
    if command == "notebook":
        from multimaster_lab import notebook

        return notebook.main(rest)
    if command == "top":
        from multimaster_lab import top

        return top.main(rest)
    print(f"multimaster: unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
