"""The portal's settings with the floor probe's URLs in front (``make bench`` only)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench.floor_urls"
