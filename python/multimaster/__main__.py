import sys

from multimaster.cli import main

sys.exit(main())
