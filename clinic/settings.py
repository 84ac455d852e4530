"""Settings for the infusion tracker.

Every setting that differs between a laptop and production is read from the
environment (django-environ). The defaults give the embedded set-up: SQLite in
./data, a Celery broker on the local filesystem, and e-mail written to files.
A malformed value stops start-up with a message that says what to set.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(environ.Env().str("DATA_DIR", default=str(BASE_DIR / "data")))

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    TIME_ZONE=(str, "UTC"),
    SESSION_IDLE_MINUTES=(int, 30),
    SESSION_ABSOLUTE_HOURS=(int, 12),
)

# DEBUG is off unless asked for: production must never inherit a laptop's defaults.
DEBUG = env("DEBUG")

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            "string (DEBUG is off, so the development key is refused)."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "simple_history",
    "phonenumber_field",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "clinic",
    "patients",
    "scheduling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.sessions.SessionLimitsMiddleware",  # idle logoff, absolute lifetime
    "django_htmx.middleware.HtmxMiddleware",
    # The second factor (django-otp): request.user.is_verified(), then the gate that sends a
    # user who must pass it and has not to the verify step (clinic/two_factor.py).
    "django_otp.middleware.OTPMiddleware",
    "clinic.two_factor.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records who made each change in the history tables (django-simple-history).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, so it sees the outcome of every login attempt.
    "axes.middleware.AxesMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",  # a limited request: RATELIMIT_VIEW
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out login before checking it
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout after repeated failed logins (django-axes): per username and address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
OTP_TOTP_ISSUER = "Infusion tracker"  # the name an authenticator app shows for the account
AXES_LOCKOUT_CALLABLE = "clinic.signin.lockout_response"  # the API's error shape there

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "clinic" / "templates"],
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

# --- Database -----------------------------------------------------------------
# DATABASE_URL, e.g. postgres://user:pass@host:5432/name. Default: a SQLite file in DATA_DIR.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'infusion.sqlite3'}")
}
# DATABASE_NAME overrides the database name of DATABASE_URL: the reminder tests start a
# real Celery worker and point it at the test database this way.
if env.str("DATABASE_NAME", default=""):
    DATABASES["default"]["NAME"] = env.str("DATABASE_NAME")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE: every transaction takes SQLite's write lock before it reads, so two
    # bookings cannot both check a chair is free and then both write.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No server-side binding nor prepared statements: Django's default, and what a
    # pooler in transaction mode (PgBouncer) needs.
DATABASES["default"]["ATOMIC_REQUESTS"] = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sessions, headers and rate limits (docs/configuration.md) ----------------------------
# A session ends after a time without activity (clinic/sessions.py): a staff member's from
# their clinic's setting (Clinic.idle_logoff_minutes), anyone else's (a patient's) from
# SESSION_IDLE_MINUTES; and, active or not, SESSION_ABSOLUTE_HOURS after signing in, which
# is also the cookie's age. A page's poll (the day board) is not activity.
SESSION_IDLE_MINUTES = env("SESSION_IDLE_MINUTES")
SESSION_ABSOLUTE_HOURS = env("SESSION_ABSOLUTE_HOURS")
if SESSION_IDLE_MINUTES < 2 or SESSION_ABSOLUTE_HOURS < 1:
    raise ImproperlyConfigured(
        "SESSION_IDLE_MINUTES must be at least 2 and SESSION_ABSOLUTE_HOURS at least 1."
    )
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# HTTPS only, once seen (production); no framing; the address of a patient's link page is
# never sent to another site.
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts and styles from our own static files only,
# no inline script, no style attribute, no eval (htmx's hx-on and js: values are off).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Rate limits (django-ratelimit; a limited request gets clinic.ratelimits.limited, a 429).
# Counted per client address in the cache: CACHE_URL (redis://host:6379/1) shares the
# counts between web processes; without it each process counts on its own.
RATELIMIT_LOGIN = env.str("RATELIMIT_LOGIN", default="20/m")  # sign-in attempts (POST)
RATELIMIT_PUBLIC_LINK = env.str("RATELIMIT_PUBLIC_LINK", default="30/m")  # patients' links
RATELIMIT_TOKEN = env.str("RATELIMIT_TOKEN", default="10/m")  # API token creation
RATELIMIT_VIEW = "clinic.ratelimits.limited"
if env.str("CACHE_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("CACHE_URL"),
        }
    }
    # Django's own Redis cache increments atomically; django-ratelimit only lists django-redis.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The embedded set-up: counts per process (docs/configuration.md).
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Time -----------------------------------------------------------------------
# Stored in UTC always; shown in the clinic's or the patient's own time zone.
USE_TZ = True
TIME_ZONE = env("TIME_ZONE")
LANGUAGE_CODE = "en-gb"
USE_I18N = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True  # serve app static files straight from the apps when not collected
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- E-mail -----------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587, with ?ssl or ?tls) configures SMTP; without it
# mail goes to files in DATA_DIR/mail, where a developer can read it.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = DATA_DIR / "mail"
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
    # An explicit EMAIL_BACKEND still wins (a test's slow SMTP backend, say).
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=vars()["EMAIL_BACKEND"])
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="reminders@localhost")

# --- Reminders ----------------------------------------------------------------------
# SITE_URL: where patients' confirm-or-cancel links and the SMS status callback point.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# SMS_BACKEND: scheduling.reminders.sms.FileSmsBackend (default: one file per message in
# DATA_DIR/sms), ConsoleSmsBackend, LocmemSmsBackend (tests) or TwilioSmsBackend,
# which needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER.
SMS_BACKEND = env.str("SMS_BACKEND", default="scheduling.reminders.sms.FileSmsBackend")
SMS_FILE_PATH = DATA_DIR / "sms"
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
if SMS_BACKEND.endswith("TwilioSmsBackend") and not (
    TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER
):
    raise ImproperlyConfigured(
        "SMS_BACKEND is the Twilio backend: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
        "TWILIO_FROM_NUMBER."
    )
# How many reminders one worker task sends, how many one sweep claims at most, after how
# long a claim is taken back from a dead worker, and how often a transient failure is
# retried (with backoff) before the reminder is marked failed. A claim whose batch has
# started is taken back once its worker has been silent REMINDER_STALL_SECONDS (a running
# batch says it is alive every third of that); one still queued, after
# REMINDER_CLAIM_TIMEOUT_SECONDS (it may be waiting behind a long queue).
REMINDER_BATCH_SIZE = env.int("REMINDER_BATCH_SIZE", default=200)
REMINDER_SWEEP_LIMIT = env.int("REMINDER_SWEEP_LIMIT", default=20_000)
REMINDER_CLAIM_TIMEOUT_SECONDS = env.int("REMINDER_CLAIM_TIMEOUT_SECONDS", default=900)
REMINDER_STALL_SECONDS = env.int("REMINDER_STALL_SECONDS", default=15)
REMINDER_MAX_ATTEMPTS = env.int("REMINDER_MAX_ATTEMPTS", default=5)
REMINDER_LINK_MAX_AGE_DAYS = env.int("REMINDER_LINK_MAX_AGE_DAYS", default=7)
for _name in (
    "REMINDER_BATCH_SIZE",
    "REMINDER_SWEEP_LIMIT",
    "REMINDER_CLAIM_TIMEOUT_SECONDS",
    "REMINDER_STALL_SECONDS",
):
    if vars()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive whole number.")

# --- Celery -------------------------------------------------------------------------
# CELERY_BROKER_URL: redis://host:6379/0 in production. The default is kombu's own
# filesystem transport, which needs no server, so one command runs everything.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    # Every folder the transport writes, under DATA_DIR (kombu puts its exchange table
    # in ./control, the working directory, unless told otherwise).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that loses the broker reconnects for as long as it takes (Celery's default gives
# up after 100 tries, about 47 minutes, and the worker exits). The batch it is running
# goes on meanwhile: sending needs only the database and the mail or SMS provider, and its
# acknowledgement, lost with the connection, only means the task is delivered again
# later, when it finds its rows already sent. Cancelling it instead (Celery 6's default)
# would leave its rows claimed until the sweep takes them back.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# The remote-control queue is durable, so closing it touches no Redis: an auto-deleted one
# failed on a dead Redis first and left the task channel to be closed after kombu let go
# of the transport, killing a busy worker (AttributeError 'NoneType' ... 'hostname' in
# restore_unacked, the pattern of celery/kombu#970 and #582; README, Broker outages).
CELERY_CONTROL_QUEUE_DURABLE = True
CELERY_CONTROL_QUEUE_EXCLUSIVE = False
# A web request that enqueues a task (after its transaction commits) must not hang when
# the broker is down: connect and publish time out quickly and retry little. Nothing is
# lost by giving up: reminders live in the database and the next sweep sends them.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
        "socket_timeout": 5,
        "retry_on_timeout": False,
        "max_retries": 1,
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Product defaults ---------------------------------------------------------------
# How far ahead an open-ended maintenance phase is written out as sessions; a clinic
# may override it. The periodic task extends every course to this horizon daily.
MAINTENANCE_HORIZON_DAYS = env.int("MAINTENANCE_HORIZON_DAYS", default=90)


REST_FRAMEWORK = {
    # Token first: an unauthenticated call gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clinic.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "clinic.api.base.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.base.Pagination",
    # JSON in: one request format to document, validate and fuzz. (The pages post forms
    # to Django views, not to the API.)
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.base.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token": RATELIMIT_TOKEN},
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.NamespaceVersioning",
    "ALLOWED_VERSIONS": ["v1"],
    "DEFAULT_VERSION": "v1",
}

# API tokens (django-rest-knox, our model: clinic.ApiToken): a digest stored, never the
# token; each expires API_TOKEN_TTL_DAYS after it was issued (not renewed by use).
KNOX_TOKEN_MODEL = "clinic.ApiToken"
# knox's own migrations create its AuthToken table even with the model swapped for ours:
# an empty table whose key to the users blocks a flush. Ours is the only token table.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"TOKEN_TTL": dt.timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30))}
if REST_KNOX["TOKEN_TTL"] <= dt.timedelta(0):
    raise ImproperlyConfigured("API_TOKEN_TTL_DAYS must be a positive whole number.")

SPECTACULAR_SETTINGS = {
    # Said, not guessed from the routes: /fhir/ beside /api/ moved the guess and renamed
    # every operation id (v1_alerts_list became api_v1_alerts_list).
    "SCHEMA_PATH_PREFIX": r"/api/",
    "TITLE": "Infusion tracker API",
    "DESCRIPTION": "Courses, sessions and charts for ketamine and esketamine clinics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc are served from the app's own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clinic.api.schema.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "scheduling.booking.models.Session.Status",
        "WeekdayEnum": "clinic.models.Weekday",
        "ContraindicationKindEnum": "patients.models.Contraindication.Kind",
        "QuestionnaireKindEnum": "patients.models.QuestionnaireResponse.Kind",
        "SideEffectKindEnum": "scheduling.chart.models.SideEffect.Kind",
        "AlertKindEnum": "scheduling.chart.models.Alert.Kind",
    },
}

# No patient data in logs: our own loggers log ids, never names or contact details.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
