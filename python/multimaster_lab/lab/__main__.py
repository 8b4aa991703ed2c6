"""`python -m multimaster_lab.lab ...`: the lab alone, with its own account (a `lab` database
and user, no table); `multimaster lab ...` is the course's lab (its database, user and table)."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
