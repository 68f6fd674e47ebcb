"""Settings for the dashboard browser test's daphne: the project's own, plus two test-only differences.

Whitenoise serves static files straight from the app directories, so the test needs no `collectstatic` into
the shared var/static; and the channel layer uses the test's own key prefix, so ticks of other runs sharing
the Redis server (their site 1 is our site 1 too) never reach this page.
"""

import os

from smartmine.settings import *  # noqa: F403 - the project's settings, unchanged but for the lines below
from smartmine.settings import CHANNEL_LAYERS

WHITENOISE_USE_FINDERS = True
_layer = CHANNEL_LAYERS["default"]
CHANNEL_LAYERS = {
    "default": {**_layer, "CONFIG": {**_layer["CONFIG"], "prefix": os.environ["DASHBOARD_CHANNEL_PREFIX"]}}
}
