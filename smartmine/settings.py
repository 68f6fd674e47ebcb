"""The one settings module. Every value that differs between machines comes from smartmine.config."""

from smartmine.config import BASE_DIR, VAR_DIR, load_config_or_exit, redis_prefix  # noqa: F401 - BASE_DIR: Django tools
from smartmine.platform.logs import logging_config

CONFIG = load_config_or_exit()

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.api_debug
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)

INSTALLED_APPS = [
    "daphne",  # before staticfiles: `runserver` serves ASGI too
    # Admin modules are discovered by the wiring's ready() (smartmine.apps), after every app has registered
    # its equipment kinds and streams: admin pages are built from those registries.
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "axes",  # locks out repeated failed logins (admin, API token)
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files: mine networks are offline
    "corsheaders",
    "channels",
    "django_celery_beat",
    # The floor, the domain apps from the bottom up (the order their ready() hooks register in), the roof.
    "smartmine.platform",
    "fleet",
    "stockpiles",
    "plants",
    "analytics",
    "smartmine",
]

MIDDLEWARE = [
    "smartmine.platform.api.errors.ReturnDatabaseConnectionMiddleware",
    "smartmine.platform.logs.RequestIdMiddleware",
    "smartmine.platform.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lockout into a clear refusal
    "smartmine.platform.api.errors.DatabaseUnavailableMiddleware",
    "smartmine.platform.api.query.QueryParametersMiddleware",  # the schema's query parameters, enforced
]

# Login brute-force protection: 5 failures for one username from one address lock it for 15 minutes.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Its "AXES: BEGIN …" line at every process start, and the user agent in its log lines, only at DEBUG;
# failed logins and lock-outs are logged (username and address) at any level.
AXES_VERBOSE = CONFIG.log_level == "DEBUG"

ROOT_URLCONF = "smartmine.urls"
ASGI_APPLICATION = "smartmine.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# A psycopg pool per process (DATABASE_POOL_SIZE connections, 0 = one connection per request). Under ASGI
# every request runs its sync code in a thread of its own, so per-thread persistent connections (CONN_MAX_AGE)
# pile up to PostgreSQL's limit; the pool bounds them instead, and a request that waits longer than
# DATABASE_POOL_TIMEOUT for a connection is answered 503
# (smartmine.platform.api.errors.DatabaseUnavailableMiddleware).
# Connections are checked before reuse (CONN_HEALTH_CHECKS), so a restarted PostgreSQL costs no errors.
# Celery's prefork workers close the pool after each task (Celery's Django fixup): one connection per task.
_DATABASE_POOL = (
    {
        "min_size": 1,
        "max_size": CONFIG.database_pool_size,
        "timeout": CONFIG.database_pool_timeout_s,
        "max_idle": 300,
        "max_lifetime": 1800,
    }
    if CONFIG.database_pool_size
    else None
)
DATABASES = {
    "default": {
        **CONFIG.database,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 5, **({"pool": _DATABASE_POOL} if _DATABASE_POOL else {})},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGGING = logging_config(
    level=CONFIG.log_level,
    log_file=CONFIG.log_file,
    log_format=CONFIG.log_format,
    log_dir=VAR_DIR / "log",
)

# --- REST API
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes a request without credentials a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["smartmine.platform.api.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["drf_orjson_renderer.parsers.ORJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "smartmine.platform.api.schema.SchemaWithErrors",
    "DEFAULT_METADATA_CLASS": "smartmine.platform.api.metadata.ActionMetadata",
    "DEFAULT_FILTER_BACKENDS": ["smartmine.platform.api.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "smartmine.platform.api.pagination.RowPagination",
    "EXCEPTION_HANDLER": "smartmine.platform.api.errors.exception_handler",
    # Only writes that can be hammered are throttled (views opt in with throttle_scope); reads stay free.
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_THROTTLE_RATES": {
        "telemetry": "6000/min",  # per gateway: 100 batches/s of 1,000 readings is twice the ingest goal
        "auth": "10/min",  # per client address: token requests (password guessing)
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SmartMine API",
    "DESCRIPTION": (
        "Digital twin of an open-pit mine: equipment, history, KPIs, analytics and dispatch.\n\n"
        "Sign in with a token (`Authorization: Token <key>`, from `POST /api/auth/token`) or an admin "
        "session. "
        "Any signed-in user reads; Operators acknowledge alerts and change equipment status; Engineers also "
        "configure sites; gateways (the Gateways group) post telemetry. Every error answers "
        '`{"error": {"code", "message", "details": {field: [messages]}}}`. See docs/api.md and docs/kpis.md.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "smartmine.platform.api.schema.strip_trailing_slashes",
        "smartmine.platform.api.schema.refuse_nul_in_free_text",
    ],
    "ENUM_NAME_OVERRIDES": {
        "TruckStatusEnum": "fleet.choices.TruckStatus",
        "LoaderStatusEnum": "fleet.choices.LoaderStatus",
        "CrusherStatusEnum": "plants.choices.CrusherStatus",
        "StockpileStatusEnum": "stockpiles.choices.StockpileStatus",
        "ZoneStatusEnum": "fleet.choices.ZoneStatus",
    },
}
API_ALLOW_ANONYMOUS_READ = CONFIG.api_allow_anonymous_read

CORS_ALLOWED_ORIGINS = list(CONFIG.cors_origins)

# --- Redis: Celery broker and the Channels layer
REDIS_URL = CONFIG.redis_url
#: This installation's namespace on a shared Redis (pub/sub ignores the db number): every broker key, queue
#: and control message, every channel-layer name and the model artifacts are under it (docs/operations.md).
INSTALLATION_ID = CONFIG.installation_id
REDIS_PREFIX = redis_prefix(INSTALLATION_ID)
CELERY_BROKER_URL = CONFIG.redis_url
#: The MQTT broker equipment gateways publish telemetry to (docs/telemetry.md); ingest_mqtt reads it.
MQTT_URL = CONFIG.mqtt_url
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": REDIS_PREFIX}  # any queue name, one place
CELERY_RESULT_BACKEND = None  # tasks report through the database, not through results
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # one logging configuration for web, worker and beat
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Workload isolation: every task has a queue, and each queue its own worker process (runsystem's
# process_commands; docs/operations.md). Ticks have a queue nothing else is routed to, so a scenario or a
# retraining can never hold the process a tick needs. Anything unrouted lands in "periodic", never in "ticks".
# Routing is by task name, the names beat entries and queued messages store.
TICK_QUEUE, PERIODIC_QUEUE, BATCH_QUEUE = "ticks", "periodic", "batch"
CELERY_TASK_QUEUES = {
    TICK_QUEUE: {"routing_key": TICK_QUEUE},  # each site's tick, every SIMULATION_INTERVAL
    PERIODIC_QUEUE: {"routing_key": PERIODIC_QUEUE},  # short, frequent: partitions, rollups, predictions
    BATCH_QUEUE: {"routing_key": BATCH_QUEUE},  # long, on demand: scenarios and retraining
}
CELERY_TASK_DEFAULT_QUEUE = PERIODIC_QUEUE
#: Pool processes of the tick worker (sites ticking at once) and of the batch worker (scenarios and
#: retraining at once): runsystem's sizes, one machine's; docs/operations.md scales them out.
TICK_CONCURRENCY = CONFIG.tick_concurrency
BATCH_CONCURRENCY = CONFIG.batch_concurrency
#: daphne processes sharing the web ports (`serveweb`, run by `make run`): default one per core.
WEB_CONCURRENCY = CONFIG.web_concurrency
CELERY_TASK_ROUTES = {
    "fleet.tasks.tick_site_task": {"queue": TICK_QUEUE},
    "fleet.tasks.maintain_partitions_task": {"queue": PERIODIC_QUEUE},
    "fleet.tasks.rollup_readings_task": {"queue": PERIODIC_QUEUE},
    "fleet.tasks.vacuum_busy_tables_task": {"queue": PERIODIC_QUEUE},
    "analytics.tasks.refresh_active_sites_task": {"queue": PERIODIC_QUEUE},
    "analytics.tasks.refresh_predictions_task": {"queue": PERIODIC_QUEUE},
    "analytics.tasks.fail_lost_scenarios_task": {"queue": PERIODIC_QUEUE},
    "analytics.scenario_tasks.run_scenario_task": {"queue": BATCH_QUEUE},
    "analytics.tasks.retrain_models_task": {"queue": BATCH_QUEUE},
    "analytics.tasks.bootstrap_models_task": {"queue": BATCH_QUEUE},
}
CELERY_TIMEZONE = TIME_ZONE

CHANNEL_LAYERS = {
    # Pub/sub, not RedisChannelLayer: one Redis subscription per daphne process per group and no per-consumer
    # receive lock, so a tick fans out faster with less latency, and after a Redis restart the processes
    # re-subscribe and their clients resume (docs/live.md has the figures from `python -m bench.bench_ws`).
    # It has no capacity/expiry: slow clients are bounded by the consumer's own high-water mark instead.
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            # redis-py 8 defaults to a 5 s socket timeout; keep reads from timing out between quiet ticks.
            "hosts": [{"address": CONFIG.redis_url, "socket_timeout": 15, "socket_connect_timeout": 5}],
            "prefix": REDIS_PREFIX,
        },
    }
}

# --- SmartMine domain
SIMULATION_INTERVAL_S = CONFIG.simulation_interval_s
SIMULATION_SPEED = CONFIG.simulation_speed
MAX_TRUCKS = CONFIG.max_trucks
MAX_CRUSHERS = CONFIG.max_crushers
MAX_STOCKPILES = CONFIG.max_stockpiles
READINGS_RETENTION_DAYS = CONFIG.readings_retention_days
#: A reading stamped further ahead of now than this is refused (a wrong clock): docs/history.md.
READINGS_FUTURE_MARGIN_S = CONFIG.readings_future_margin_s
#: A live unit silent this long is shown stale and raises its silence alarm: fleet/liveness.py, docs/live.md.
TELEMETRY_STALE_AFTER_S = CONFIG.telemetry_stale_after_s
ROLLUP_RETENTION_DAYS = CONFIG.rollup_retention_days
API_HOST, API_PORT = CONFIG.api_host, CONFIG.api_port
WEBSOCKET_HOST, WEBSOCKET_PORT = CONFIG.websocket_host, CONFIG.websocket_port
#: Where trained model artifacts live (loaded only when their SHA-256 matches the registry).
MODEL_DIR = VAR_DIR / "models"
#: First models of an installation with none, trained on simulated sites (docs/ml.md, "Bootstrap models"):
#: how many seeds, simulated days each, processes simulating, and seeds truck models use. Sized for the
#: validity gate (5 breakdowns per kind in validation: 6 site-weeks give crushers 8, loaders 9); tests shrink.
#: A simulated site with no active model trains its first ones by itself (docs/ml.md, "Bootstrap models").
ML_BOOTSTRAP = CONFIG.ml_bootstrap
ML_BOOTSTRAP_SEEDS = 6
ML_BOOTSTRAP_DAYS = 7.0
ML_BOOTSTRAP_WORKERS = 2
ML_BOOTSTRAP_TRUCK_SEEDS = 2  # trucks break down ~5x as often: two site-weeks give ~13 in validation
ML_BOOTSTRAP_REFINE_SEEDS = 24  # then crusher and loader models again on this many (bootstrap.REFINED_KINDS)
#: Who may read /metrics: a bearer token, or a client address inside one of these networks.
METRICS_TOKEN = CONFIG.metrics_token
METRICS_ALLOWED_NETWORKS = list(CONFIG.metrics_allowed_networks)
#: How long /api/health waits for all its checks together (it must answer within 2 s).
HEALTH_CHECK_TIMEOUT_S = 1.5

# --- Production hardening (ENVIRONMENT=production)
if CONFIG.production:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
