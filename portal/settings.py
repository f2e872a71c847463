"""Landport settings, read from the environment (see .env.example for every variable).

Out of the box (no variables set) the portal runs in development mode on SQLite with a
broker that needs no server. ``LANDPORT_ENV=production`` turns on the production checks.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LANDPORT_VAR_DIR", str(BASE_DIR / "var")))

LANDPORT_ENV = env_str("LANDPORT_ENV", "development")
if LANDPORT_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"LANDPORT_ENV={LANDPORT_ENV!r}: use development, test or production.")
PRODUCTION = LANDPORT_ENV == "production"
TESTING = LANDPORT_ENV == "test"

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured("Production needs SECRET_KEY: a random string of 50 characters or more.")

DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Production needs ALLOWED_HOSTS.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "portal",
    "declarations",
    "bookings",
    "notifications",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "django_countries",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.StaffMfaRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "portal.urls"
# Widgets render with the project's templates too (the phone widget).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "django.template.context_processors.i18n",
                "notifications.context_processors.unread",
            ],
        },
    },
]

# --- Database: SQLite (WAL, IMMEDIATE transactions) unless DATABASE_URL is set.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if TESTING else 60)
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "DB_PREPARED_STATEMENTS", True
    ):
        # Parameters bound on the server, so a connection's repeated queries are prepared
        # (after 5 runs) and planned once: planning the gate's ten-table read costs more than
        # running it. Off behind a pooler in transaction mode, which cannot keep them.
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "landport.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache"}}

# --- Accounts
AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "portal.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"phone", "email"}
# Phone or email (the form asks for one of them); a password is optional: codes by SMS work without.
ACCOUNT_SIGNUP_FIELDS = ["phone", "email", "password1"]
# allauth warns when a login method is not a required signup field; our signup form
# requires one of phone and email itself (portal.signup.SignupExtraForm.clean).
SILENCED_SYSTEM_CHECKS = ["account.W001"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_PHONE_VERIFICATION_ENABLED = True
ACCOUNT_PHONE_VERIFICATION_SUPPORTS_RESEND = True
ACCOUNT_PHONE_VERIFICATION_SUPPORTS_CHANGE = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    # Each code costs an SMS: keep requests for codes scarce per number and per address.
    "confirm_phone": "3/5m/key,20/h/ip",
    "request_login_code": "5/10m/ip,3/5m/key",
}
ALLAUTH_USER_CODE_FORMAT = {"numeric": True, "length": 6, "dashed": False}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Landport: "
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Landport"
# Phone numbers without "+" are read in this region unless the form says otherwise.
PHONENUMBER_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "KZ")
PHONENUMBER_DB_FORMAT = "E164"

# --- Internationalisation
LANGUAGE_CODE = "en"
# Each language is named in itself, so that anyone can find their own in the switcher.
LANGUAGES = [
    ("en", "English"),
    ("zh-hans", "简体中文"),
    ("ru", "Русский"),
    ("kk", "Қазақша"),
    ("mn", "Монгол"),
]
# locale_vendor: translations our dependencies lack (allauth has no Kazakh at all,
# django-countries no Kazakh, Django's admin and auth catalogues have gaps).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_vendor"]
TIME_ZONE = "UTC"
# The ports of Xinjiang keep Beijing time; a port's own time zone is on the Port.
PORT_DEFAULT_TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files: served by whitenoise, nothing from a CDN.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Outside production, whitenoise serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
MEDIA_URL = "media/"
# Uploads are read back into memory only up to this size; larger ones go to a temp file.
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email and SMS
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Landport <noreply@landport.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
# Dotted path of the SMS transport, chosen the way EMAIL_BACKEND chooses email.
SMS_TRANSPORT = env_str(
    "SMS_TRANSPORT",
    "notifications.transports.LocmemSmsTransport"
    if TESTING
    else "notifications.transports.ConsoleSmsTransport",
)
if PRODUCTION and SMS_TRANSPORT.endswith(("ConsoleSmsTransport", "LocmemSmsTransport")):
    raise ImproperlyConfigured("Production needs a real SMS_TRANSPORT.")
# notifications.transports.HttpJsonSmsTransport: a generic JSON gateway.
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL")
SMS_GATEWAY_TOKEN = env_str("SMS_GATEWAY_TOKEN")
SMS_SENDER_ID = env_str("SMS_SENDER_ID", "Landport")
# Shared secret of the delivery reports the gateway posts to /notifications/delivery-report.
SMS_GATEWAY_WEBHOOK_SECRET = env_str("SMS_GATEWAY_WEBHOOK_SECRET")
DELIVERY_REPORTS_REFUSED_PER_MINUTE = env_int("DELIVERY_REPORTS_REFUSED_PER_MINUTE", 30)
# notifications.transports.TwilioSmsTransport
TWILIO_API_BASE = env_str("TWILIO_API_BASE", "https://api.twilio.com")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM = env_str("TWILIO_FROM")
HTTP_TIMEOUT_SECONDS = float(env_int("HTTP_TIMEOUT_SECONDS", 10))
# Sending: attempts before a notification is failed, the first retry delay (doubling),
# when a send is taken as interrupted, and when a pending row is queued again.
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 8)
NOTIFICATION_RETRY_BASE_SECONDS = float(env_str("NOTIFICATION_RETRY_BASE_SECONDS", "30"))
NOTIFICATION_STUCK_SECONDS = env_int("NOTIFICATION_STUCK_SECONDS", 300)
NOTIFICATION_REQUEUE_SECONDS = env_int("NOTIFICATION_REQUEUE_SECONDS", 120)
# SMS pumping: texts per number, per firm and per client address in 24 hours.
SMS_LIMIT_PER_NUMBER_PER_DAY = env_int("SMS_LIMIT_PER_NUMBER_PER_DAY", 20)
SMS_LIMIT_PER_FIRM_PER_DAY = env_int("SMS_LIMIT_PER_FIRM_PER_DAY", 5000)
SMS_LIMIT_PER_IP_PER_DAY = env_int("SMS_LIMIT_PER_IP_PER_DAY", 50)

# --- Celery: a Redis URL in production and CI; without one, a broker that needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "memory://" if TESTING else "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        # Fanout exchanges (worker control, broadcasts); kombu's default is ./control.
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for _folder in ("broker", "broker-processed", "broker-control"):
        (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)
# Tests run tasks in-process unless they start a real worker themselves.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Notifications have their own queue, so a broadcast never holds up other work.
CELERY_TASK_ROUTES = {"notifications.tasks.*": {"queue": "notifications"}}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULE = {
    "sweep-notifications": {"task": "notifications.tasks.notifications_sweep", "schedule": 60},
    "clear-expired-sessions": {"task": "portal.tasks.sessions_clear", "schedule": 6 * 3600},
    "purge-stale-invitations": {"task": "portal.tasks.invitations_purge", "schedule": 24 * 3600},
    "ensure-slots": {"task": "bookings.tasks.slots_ensure_all", "schedule": 3600},
    "send-booking-reminders": {"task": "bookings.tasks.reminders_send", "schedule": 60},
    "mark-no-shows": {"task": "bookings.tasks.no_shows_mark", "schedule": 300},
}

# --- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API client gets 401 with a WWW-Authenticate header.
        "portal.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.exception_handlers.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["portal.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_USER_RATE", "600/minute")},
}
# How long an API token's user is kept in the cache (portal.authentication).
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 60)
# How long an officer's gate rights are kept in the cache (bookings.gate); 0: not at all.
GATE_RIGHTS_CACHE_SECONDS = env_int("GATE_RIGHTS_CACHE_SECONDS", 300 if CACHE_URL else 0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Landport API",
    "DESCRIPTION": "Declarations, firms, drivers and vehicles of a land-border port.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VehicleKindEnum": "portal.models.Vehicle.Kind",
        "OrganisationKindEnum": "portal.models.Organisation.Kind",
        "MemberRoleEnum": "portal.models.Role",
        "InvitationRoleEnum": "portal.models.Invitation.As",
        "DocumentKindEnum": "declarations.models.DocumentKind",
        "DeclarationStatusEnum": "declarations.models.Status",
        "BookingStatusEnum": "bookings.models.BookingStatus",
        "LaneTypeEnum": "bookings.models.LaneType",
        "LaneDirectionEnum": "bookings.models.LaneDirection",
        # Kept under its earlier name now that lanes have a direction too.
        "DirectionEnum": "declarations.models.Direction",
        # Country labels are translated and sorted by name: the schema view renders in English.
        "CountryEnum": "django_countries.countries",
    },
}

# --- Invitations
INVITATION_TTL_HOURS = env_int("INVITATION_TTL_HOURS", 72)
# A firm not yet verified by an officer may send this many invitations a day (SMS pumping).
UNVERIFIED_FIRM_INVITATIONS_PER_DAY = env_int("UNVERIFIED_FIRM_INVITATIONS_PER_DAY", 10)

# --- Passes: per-port Ed25519 keys, from the environment or from PEM files, never the database.
PASS_SIGNING_KEYS = env_str("PASS_SIGNING_KEYS", "")
PASS_KEYS_DIR = Path(env_str("PASS_KEYS_DIR", str(VAR_DIR / "pass-keys")))

# --- Security
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies put their address in X-Forwarded-For: rate limits and SMS limits per
# client address must see the client, not the proxy.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if env_bool("BEHIND_TLS_PROXY", False) else 0)
# Messages live in the session, not in a cookie: one of them shows a new API token.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The level on the handler too: Django's own loggers pass their records up to it.
    "handlers": {"console": {"class": "logging.StreamHandler", "level": LOG_LEVEL}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

ACCOUNT_FORMS = {"login": "portal.forms.LoginForm"}
ACCOUNT_SIGNUP_FORM_CLASS = "portal.signup.SignupExtraForm"
