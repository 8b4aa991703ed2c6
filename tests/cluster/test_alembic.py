"""Alembic through the `mysql+multimaster://` engine against the real lab: a migration
environment written into tmp_path (alembic.ini, env.py, two revisions: a table with an index,
then a column added), `upgrade head` and `downgrade base` through Alembic's Python API, the
schema and the `alembic_version` row checked after each on every node by the lab's own client.

Alembic's MySQL support runs without transactional DDL (`transactional_ddl = False`): each
CREATE, ALTER or DROP commits by itself on the server, and the DB-API connection commits the
open transaction before it, as the server would (dbapi.py, `commits_by_itself`); the
`alembic_version` INSERT/UPDATE/DELETE runs in the transaction Alembic commits.
The env.py below is the one `alembic init` writes, run with Alembic's default (one transaction
for the whole run) and with `transaction_per_migration=True` (one per revision)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

pytest.importorskip("alembic", reason="alembic is not installed: pip install -e '.[test]'")
pytest.importorskip("sqlalchemy")

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from multimaster_lab.coursedata import DATABASE, PASSWORD, USER  # noqa: E402

TABLE = "alembic_t"

# `alembic init`'s env.py (online mode), with transaction_per_migration from the ini file.
ENV = """
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        transaction_per_migration=config.get_main_option("transaction_per_migration") == "true",
    )
    with context.begin_transaction():
        context.run_migrations()
"""

FIRST = f'''
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "{TABLE}",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("title", sa.String(40), nullable=False),
        sa.Column("duration", sa.Integer),
        sa.Column("created", sa.Date),
    )
    op.create_index("ix_{TABLE}_title", "{TABLE}", ["title"])


def downgrade():
    op.drop_index("ix_{TABLE}_title", table_name="{TABLE}")
    op.drop_table("{TABLE}")
'''

SECOND = f'''
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("{TABLE}", sa.Column("url", sa.String(100), nullable=True))


def downgrade():
    op.drop_column("{TABLE}", "url")
'''


def on_every_node(cluster, sql: str) -> List[Any]:
    """`sql`'s rows as each node answers it, read causally (every write committed before it).
    wsrep_sync_wait=15, not 1: MariaDB waits before a SHOW only with bit 8, and a DDL statement
    (run in total order) may still be being applied on the other node when its client has the OK."""
    return [cluster.sql(i, f"SET SESSION wsrep_sync_wait=15; {sql}") for i in range(1, len(cluster.nodes) + 1)]


def columns(cluster) -> List[Any]:
    return on_every_node(
        cluster,
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{DATABASE}' AND TABLE_NAME = '{TABLE}' ORDER BY ORDINAL_POSITION",
    )


def indexes(cluster) -> List[Any]:
    return on_every_node(
        cluster,
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE TABLE_SCHEMA = '{DATABASE}' AND TABLE_NAME = '{TABLE}' ORDER BY INDEX_NAME, SEQ_IN_INDEX",
    )


def versions(cluster) -> List[Any]:
    return on_every_node(cluster, f"SELECT version_num FROM {DATABASE}.alembic_version")


@pytest.fixture
def fresh(cluster):
    drop = f"DROP TABLE IF EXISTS {DATABASE}.{TABLE}, {DATABASE}.alembic_version"
    cluster.sql(1, drop)
    # Every node has applied the DROP before the migration's CREATE may land on either.
    assert columns(cluster) == [[]] * len(cluster.nodes)
    yield
    cluster.sql(1, drop)


@pytest.fixture(params=[False, True], ids=["one-transaction", "transaction-per-migration"])
def alembic_config(cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Config:
    """alembic.ini + env.py + two revisions, as `alembic init` and `alembic revision` lay them out."""
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV)
    (scripts / "versions" / "0001_create.py").write_text(FIRST)
    (scripts / "versions" / "0002_add_url.py").write_text(SECOND)
    hosts = "&".join(f"host={a}" for a in cluster.addresses)
    url = f"mysql+multimaster://{USER}:{PASSWORD}@/{DATABASE}?{hosts}&connect_timeout=1"
    ini = tmp_path / "alembic.ini"
    # configparser would read a % in the URL as interpolation: double it.
    per_migration = "true" if request.param else "false"
    ini.write_text(
        f"[alembic]\nscript_location = {scripts}\nsqlalchemy.url = {url.replace('%', '%%')}\n"
        f"transaction_per_migration = {per_migration}\n"
    )
    return Config(str(ini))


def test_upgrade_head_then_downgrade_base(cluster, fresh, alembic_config) -> None:
    nodes = len(cluster.nodes)

    command.upgrade(alembic_config, "head")
    assert (
        columns(cluster)
        == [
            [
                ("id", "int(11)", "NO"),
                ("title", "varchar(40)", "NO"),
                ("duration", "int(11)", "YES"),
                ("created", "date", "YES"),
                ("url", "varchar(100)", "YES"),
            ]
        ]
        * nodes
    )
    assert indexes(cluster) == [[(f"ix_{TABLE}_title", "title"), ("PRIMARY", "id")]] * nodes
    assert versions(cluster) == [[("0002",)]] * nodes

    command.downgrade(alembic_config, "0001")  # one step: the column goes, the rest stays
    assert [[c[0] for c in node] for node in columns(cluster)] == [["id", "title", "duration", "created"]] * nodes
    assert versions(cluster) == [[("0001",)]] * nodes

    command.downgrade(alembic_config, "base")
    assert columns(cluster) == [[]] * nodes and indexes(cluster) == [[]] * nodes
    assert versions(cluster) == [[]] * nodes  # the version table stays, empty

    command.upgrade(alembic_config, "head")  # and back up again, from an empty version table
    assert versions(cluster) == [[("0002",)]] * nodes
