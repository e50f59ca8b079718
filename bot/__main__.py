"""``python -m bot`` is the same as ``classpulse``."""

import sys

from bot.cli.main import main

sys.exit(main())
