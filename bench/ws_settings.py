"""Settings for daphne processes started by the WebSocket benchmark and the cluster tests.

The project's settings, with the channel layer chosen by BENCH_CHANNEL_LAYER ("core" for RedisChannelLayer,
"pubsub" for RedisPubSubChannelLayer) so both channels-redis layers can be measured side by side without a
second copy of the production configuration. Everything else is smartmine.settings unchanged.
"""

import os

from smartmine.settings import *  # noqa: F403 - this module is the project settings plus one override
from smartmine.settings import CHANNEL_LAYERS as PROJECT_CHANNEL_LAYERS
from smartmine.settings import CONFIG

LAYER_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def channel_layers(kind: str, redis_url: str) -> dict:
    """CHANNEL_LAYERS for one channels-redis layer on one Redis, with the project's connection options."""
    config = {**PROJECT_CHANNEL_LAYERS["default"]["CONFIG"]}
    config["hosts"] = [{**config["hosts"][0], "address": redis_url}]
    if kind == "pubsub":  # no per-channel queue in Redis: capacity and expiry mean nothing to it
        config = {"hosts": config["hosts"], "prefix": config["prefix"]}
    else:
        config.setdefault("capacity", 200)
        config.setdefault("expiry", 30)
    return {"default": {"BACKEND": LAYER_BACKENDS[kind], "CONFIG": config}}


CHANNEL_LAYERS = channel_layers(os.environ.get("BENCH_CHANNEL_LAYER", "core"), CONFIG.redis_url)
