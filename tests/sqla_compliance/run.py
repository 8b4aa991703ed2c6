"""Runs SQLAlchemy's dialect compliance suite (test_suite.py) against a lab of its own:
`make sqla-test`, part of `make test`.

The lab is the course's (multimaster_lab.coursedata.LAB: two data nodes and garbd on
loopback) at its own addresses and directory, so it never meets the main suite's labs nor a
developer's `multimaster lab`:

    MULTIMASTER_SQLA_LAB_HOSTS   default 127.0.70.1,127.0.70.2
    MULTIMASTER_SQLA_LAB_DIR     default /tmp/multimaster-sqla-lab

Its setup adds what the suite needs: the databases `test` (the URL's), `test_schema` and
`test_schema_2` (the lab's user has every privilege). Whatever a killed earlier run left there
is brought down first, and the lab is brought down afterwards whatever happens. Arguments are
passed on to pytest (e.g. `-k ComponentReflectionTest -x`); the exit status is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from multimaster_lab.coursedata import LAB, PASSWORD, USER
from multimaster_lab.lab import Lab

HERE = Path(__file__).resolve().parent
HOSTS = os.environ.get("MULTIMASTER_SQLA_LAB_HOSTS", "127.0.70.1,127.0.70.2").split(",")
LAB_DIR = os.environ.get("MULTIMASTER_SQLA_LAB_DIR", "/tmp/multimaster-sqla-lab")
# The URL's database, and the two schemas the suite's cross-schema tests use.
DATABASES = ("test", "test_schema", "test_schema_2")


def main(argv: List[str]) -> int:
    started = time.monotonic()
    try:
        Lab.load(LAB_DIR).down()  # what a killed earlier run left behind
    except Exception:
        pass
    lab = Lab(len(HOSTS), **{**LAB, "base_dir": LAB_DIR, "hosts": HOSTS})
    try:
        lab.down()
        lab.up()
        for name in DATABASES:
            # utf8mb4, as the core speaks: the suite round-trips 4-byte characters.
            lab.sql(1, f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        # Each node a ?host= key: `a:3306,b:3306` in the host part is refused by make_url.
        hosts = "&".join(f"host={address}" for address in lab.addresses)
        url = f"mysql+multimaster://{USER}:{PASSWORD}@/{DATABASES[0]}?{hosts}"
        print(f"sqla-test: lab up at {', '.join(lab.addresses)} in {time.monotonic() - started:.0f}s", flush=True)
        command = [sys.executable, "-m", "pytest", "--dburi", url, *argv]
        return subprocess.call(command, cwd=HERE)
    finally:
        lab.down()
        print(f"sqla-test: lab down; {time.monotonic() - started:.0f}s in all", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
