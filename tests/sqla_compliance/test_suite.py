"""SQLAlchemy's dialect compliance suite, run by `run.py` (`make sqla-test`). Every test comes
from sqlalchemy.testing.suite; what this driver cannot do is closed in requirements.py, each
with its reason, and any test overridden here says why."""

from sqlalchemy.testing.suite import *  # noqa: F403
