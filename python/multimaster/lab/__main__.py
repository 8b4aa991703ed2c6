"""`python -m multimaster.lab ...`: the same as `multimaster lab ...`."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
