"""What mysql+multimaster:// can do, for SQLAlchemy's compliance suite: SQLAlchemy's own
SuiteRequirements (what it assumes of any dialect), with each requirement this driver closes
and the one-line reason why."""

from __future__ import annotations

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements


class Requirements(SuiteRequirements):
    @property
    def server_side_cursors(self) -> exclusions.compound:
        # The DB-API reads each result whole in execute(): there is no streaming cursor.
        return exclusions.closed()
