"""The course's facts, each written once: its database and credentials, its table (name,
columns, definition) and its row.

Plain data, importing nothing but the lab's `Table`: the course's callers of the lab (the
`multimaster lab` command, the demo, the notebook, the tests) hand the lab `LAB`, so that it
creates this database, user and table; the insert script, the demo, the notebook and the tests
read the same names from here. The lab itself never imports this module.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from multimaster_lab.lab.config import Table

#: The course's database, user and password: the lab creates them, `insert-test` defaults to
#: them (DB_NAME, DB_USER, MYSQL_PWD).
DATABASE = "demo"
USER = "admin"
PASSWORD = "cloudacademy"

TABLE = "course"
#: ``database.table``: how a client connected to no database in particular (the lab's) names it.
QUALIFIED_TABLE = f"{DATABASE}.{TABLE}"
COLUMNS = ["title", "instructor", "duration", "created", "url"]
#: The columns' definitions. Keyless, as in the course: exactly-once rests on the title check,
#: not on a unique index (so Galera needs wsrep_certify_nonPK, see lab/config.py).
DEFINITION = "title VARCHAR(40), instructor VARCHAR(40), duration INT, created DATE, url VARCHAR(100)"
#: The course's DDL, for ``.format(table=...)``.
CREATE_TABLE = "CREATE TABLE IF NOT EXISTS {table} (" + DEFINITION + ")"

#: What the course asks of a lab: ``Lab(..., **LAB)`` creates its database, user and table.
LAB: Dict[str, Any] = {"database": DATABASE, "user": USER, "password": PASSWORD, "table": Table(TABLE, DEFINITION)}

Row = Tuple[str, str, int, str, str]


def titled_row(title: str) -> Row:
    """The course's row with this title: every row the course inserts differs only in it."""
    return (title, "Jeremy Cook", 100, "1999-03-30", "http://here.com")


def course_row(x: int) -> Row:
    """Row x of the course's loop: ``Title{x}``."""
    return titled_row(f"Title{x}")


def course_rows(n: int, start: int = 0) -> List[Row]:
    """Rows ``Title{start}`` ... ``Title{start + n - 1}``."""
    return [course_row(x) for x in range(start, start + n)]
