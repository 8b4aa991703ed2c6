"""`python -m multimaster_lab ...`: the same as the `multimaster` command."""

import sys

from multimaster_lab.cli import main

sys.exit(main())
