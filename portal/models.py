import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email, password, **extra):
        email = self.normalize_email(email).lower() if email else None
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: driver, firm staff or officer. Signs in by phone, email or both."""

    phone = PhoneNumberField(_("phone"), unique=True, null=True, blank=True)
    phone_verified = models.BooleanField(_("phone verified"), default=False)
    # NULL rather than "" so that any number of users may have no email.
    email = models.EmailField(_("email"), unique=True, null=True, blank=True)
    display_name = models.CharField(_("name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    ports = models.ManyToManyField(
        "portal.Port",
        verbose_name=_("ports"),
        blank=True,
        related_name="officers",
        help_text=_("Officers see and act on these ports only."),
    )
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.display_name or str(self.phone or self.email or f"#{self.pk}")

    def clean(self):
        super().clean()
        if self.email == "":
            self.email = None
        if self.email:
            self.email = self.email.lower()

    def get_full_name(self):
        return str(self)

    def get_short_name(self):
        return str(self)


class Port(models.Model):
    """A land-border port: reference data, loaded by a migration and kept in the admin."""

    code = models.CharField(_("code"), max_length=3, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh_hans = models.CharField(_("name (Simplified Chinese)"), max_length=100)
    name_ru = models.CharField(_("name (Russian)"), max_length=100)
    name_kk = models.CharField(_("name (Kazakh)"), max_length=100)
    name_mn = models.CharField(_("name (Mongolian)"), max_length=100)
    neighbour_country = CountryField(_("neighbour country"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    open_24h = models.BooleanField(_("open 24 hours"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("port")
        verbose_name_plural = _("ports")

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def name(self) -> str:
        lang = (get_language() or "en").replace("-", "_").lower()
        return getattr(self, f"name_{lang}", "") or self.name_en


class Organisation(models.Model):
    class Kind(models.TextChoices):
        LOGISTICS = "logistics", _("Logistics firm")
        IMPORTER = "importer", _("Importer")
        EXPORTER = "exporter", _("Exporter")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.LOGISTICS)
    country = CountryField(_("country"))
    registration_number = models.CharField(_("registration number"), max_length=40)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        permissions = [("verify_organisation", _("Can verify an organisation"))]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "registration_number"], name="organisation_unique_registration"
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    DECLARANT = "declarant", _("Declarant")
    DISPATCHER = "dispatcher", _("Dispatcher")


class Membership(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("organisation")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique_user")
        ]

    def __str__(self):
        return f"{self.user} – {self.organisation} ({self.get_role_display()})"


class Driver(models.Model):
    """The driver profile of a user; a driver may drive for several firms."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="driver", verbose_name=_("user")
    )
    licence_number = models.CharField(_("driving licence number"), max_length=40, blank=True)
    id_document_number = models.CharField(_("passport or ID number"), max_length=40, blank=True)
    nationality = CountryField(_("nationality"), blank=True)
    organisations = models.ManyToManyField(
        Organisation, through="FirmDriver", related_name="drivers", verbose_name=_("firms")
    )

    class Meta:
        verbose_name = _("driver")
        verbose_name_plural = _("drivers")

    def __str__(self):
        return str(self.user)


class FirmDriver(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="firm_drivers")
    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="firm_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "driver"], name="firmdriver_unique")]

    def __str__(self):
        return f"{self.driver} @ {self.organisation}"


class Vehicle(models.Model):
    class Kind(models.TextChoices):
        TRACTOR = "tractor", _("Tractor unit")
        RIGID = "rigid", _("Rigid truck")
        TANKER = "tanker", _("Tanker")
        CAR_CARRIER = "car_carrier", _("Car carrier")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="vehicles", verbose_name=_("organisation")
    )
    plate = models.CharField(_("plate"), max_length=20)
    # Plate as compared: upper case, no spaces or dashes, Cyrillic look-alikes as Latin.
    plate_normalised = models.CharField(max_length=20, editable=False, db_index=True)
    country = CountryField(_("country of registration"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    trailer_plate = models.CharField(_("trailer plate"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["plate_normalised"]
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "plate_normalised"], name="vehicle_unique_plate_per_firm"
            )
        ]

    def __str__(self):
        return self.plate


def _invitation_token() -> str:
    return secrets.token_urlsafe(16)  # 128 bits; short enough for one SMS


class Invitation(models.Model):
    """An invitation to join a firm as a member (with a role) or as a driver."""

    class As(models.TextChoices):
        ADMIN = Role.ADMIN.value, Role.ADMIN.label
        DECLARANT = Role.DECLARANT.value, Role.DECLARANT.label
        DISPATCHER = Role.DISPATCHER.value, Role.DISPATCHER.label
        DRIVER = "driver", _("Driver")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("organisation")
    )
    role = models.CharField(_("invited as"), max_length=20, choices=As.choices)
    phone = PhoneNumberField(_("phone"), null=True, blank=True)
    email = models.EmailField(_("email"), null=True, blank=True)  # noqa: DJ001
    token = models.CharField(max_length=64, unique=True, default=_invitation_token, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__isnull=False) | Q(email__isnull=False), name="invitation_has_contact"
            )
        ]

    def __str__(self):
        return f"{self.phone or self.email} → {self.organisation}"

    @staticmethod
    def default_expiry():
        return timezone.now() + timedelta(hours=settings.INVITATION_TTL_HOURS)

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def is_driver(self) -> bool:
        return self.role == self.As.DRIVER


class AuditEvent(models.Model):
    """One row per state change: who, when, what, on which object, from → to, why."""

    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("who"),
    )
    action = models.CharField(_("action"), max_length=64)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"
