"""``python -m netviz_tp``: the ``netviz-tp`` command line."""

import sys

from netviz_tp.cli import main

sys.exit(main())
