"""``python -m bot`` is the same as ``classpulse``."""

import sys

from bot.main import main

sys.exit(main())
