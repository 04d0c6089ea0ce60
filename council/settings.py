"""Council's settings, read from the environment (see docs/configuration.md).

With no variables set: SQLite, an in-process channel layer and in-process tasks.
DATABASE_URL switches to Postgres; REDIS_URL to Celery over Redis and channels_redis.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from council.lib.env import database_from_url, env_bool, env_int, env_list, env_str, env_url_list, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("COUNCIL_DATA_DIR", str(BASE_DIR / "data"))).resolve()

SECRET_KEY = secret_key(DATA_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "council.accounts",
    "council.catalog",
    "council.comparisons",
    "council.arena",
]

MIDDLEWARE = [
    "council.http.ApiJsonErrorsMiddleware",  # first, so it sees every answer of every layer below
    "django.middleware.security.SecurityMiddleware",
    "council.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "council.http.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "council.accounts.middleware.ApiTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "council.urls"
ASGI_APPLICATION = "council.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "council.accounts.context_processors.signup",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL, env_str("DATABASE_PASSWORD") or None)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # WAL lets the in-process workers write while pages read.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# Embedded mode: no Redis, so tasks run in this process (still after the request) and
# events go through the in-memory channel layer.
COUNCIL_INPROCESS_TASKS = not REDIS_URL
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which aborts the layer's
            # blocking BZPOPMIN (5 s server-side): receiving stops and events are lost.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}], "capacity": 1000, "expiry": 30,
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One Redis list per priority on each queue (0 served first; see council/background.py).
# The queue order stays round-robin: kombu's BRPOP already lists every queue's priority-0
# list before any priority-1 list, and round-robin keeps a worker serving several queues
# fair between them at equal priority.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    "priority_steps": list(range(10)),
    "sep": "\x06\x16",
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SECURE = env_bool("COUNCIL_SECURE", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE and env_bool("COUNCIL_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = SECURE and env_bool("COUNCIL_HSTS_PRELOAD", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None

# Open sign-up (the first account becomes the administrator); closed by default on a secure deployment,
# where `manage.py createsuperuser` makes the first administrator.
COUNCIL_SIGNUP = env_bool("COUNCIL_SIGNUP", not SECURE)
COUNCIL_LOGIN_FAILURES_PER_ACCOUNT = env_int("COUNCIL_LOGIN_FAILURES_PER_ACCOUNT", 5)
COUNCIL_LOGIN_FAILURES_PER_ADDRESS = env_int("COUNCIL_LOGIN_FAILURES_PER_ADDRESS", 20)
COUNCIL_LOGIN_LOCKOUT_SECONDS = env_int("COUNCIL_LOGIN_LOCKOUT_SECONDS", 900)

COUNCIL_REGISTER_BUNDLED = env_bool("COUNCIL_REGISTER_BUNDLED", True)
COUNCIL_MAX_MODELS = env_int("COUNCIL_MAX_MODELS", 8)
COUNCIL_MAX_PROMPT_CHARS = env_int("COUNCIL_MAX_PROMPT_CHARS", 20_000)
COUNCIL_MAX_ACTIVE_RESPONSES = env_int("COUNCIL_MAX_ACTIVE_RESPONSES", 16)
COUNCIL_MAX_BACKGROUND_RESPONSES = env_int("COUNCIL_MAX_BACKGROUND_RESPONSES", 500)
# Servers staff (not superusers) may point an openai-backend model at; empty: superusers only.
COUNCIL_REMOTE_URL_ALLOWLIST = env_url_list("COUNCIL_REMOTE_URL_ALLOWLIST")
COUNCIL_RATE_LIMIT_PER_MINUTE = env_int("COUNCIL_RATE_LIMIT_PER_MINUTE", 20)
# Largest request body, in bytes: more is answered 413 before any view reads it.
COUNCIL_MAX_BODY_BYTES = env_int("COUNCIL_MAX_BODY_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = COUNCIL_MAX_BODY_BYTES
CSRF_FAILURE_VIEW = "council.http.csrf_failure"
COUNCIL_STALE_SECONDS = env_int("COUNCIL_STALE_SECONDS", 30)
COUNCIL_ARENA_BOOTSTRAP = env_int("COUNCIL_ARENA_BOOTSTRAP", 500)  # resamples behind the leaderboard's intervals
if COUNCIL_ARENA_BOOTSTRAP < 200:
    raise ImproperlyConfigured(f"COUNCIL_ARENA_BOOTSTRAP={COUNCIL_ARENA_BOOTSTRAP}: at least 200 resamples")
COUNCIL_SWEEPER = env_bool("COUNCIL_SWEEPER", True)  # fail answers whose worker died (web and workers)
COUNCIL_PRELOAD = env_bool("COUNCIL_PRELOAD", True)  # load bundled and preload-marked models at start

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
WHITENOISE_USE_FINDERS = True  # a fresh clone serves static files without collectstatic
