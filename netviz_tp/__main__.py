"""``python -m netviz_tp``: the ``netviz-tp`` command line."""

import sys

from netviz_tp.course.cli import main

sys.exit(main())
