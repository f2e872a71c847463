"""Entry point for pytest: the project's settings in their "test" environment."""

import os

os.environ.setdefault("LANDPORT_ENV", "test")

from portal.settings import *  # noqa: F403
