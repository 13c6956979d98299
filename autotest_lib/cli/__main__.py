"""``python -m autotest_lib.cli``: the ``autotest`` command."""

import sys

from autotest_lib.cli import main

sys.exit(main())
