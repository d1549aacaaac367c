"""Tenancy (organizations, memberships, API keys) and the CRM core rows.

Every tenant-owned row inherits `TenantModel`: it belongs to one organization,
its unique constraints include the organization, and `for_organization()` /
`for_user()` are the only ways the admin and the API read it.
"""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from core.actors import ActorKind, describe


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _timezones():
        raise ValidationError(
            _("“%(value)s” is not an IANA time zone (for example Europe/Paris)."),
            code="invalid_timezone",
            params={"value": value},
        )


validate_currency = RegexValidator(
    regex=r"^[A-Z]{3}$",
    message=_("Enter an ISO 4217 currency code in capitals, for example EUR."),
    code="invalid_currency",
)


class Organization(models.Model):
    """A business running its subscriptions here: the tenant."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default="Europe/Paris",
        validators=[validate_timezone],
        help_text=_("IANA name; cut-offs and schedules are computed in it."),
    )
    currency = models.CharField(
        _("currency"), max_length=3, default="EUR", validators=[validate_currency]
    )
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="fr"
    )
    # Read by the admin login (signin): an admin without a second factor enrols at login.
    two_factor_required = models.BooleanField(
        _("two-factor sign-in required for admins"),
        default=False,
        help_text=_(
            "Its administrators must sign in with a code from an authenticator app "
            "after their password; one who has none sets it up at their next login."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Membership(models.Model):
    """A staff user's access to one organization, with a role."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        STAFF = "staff", _("Staff")
        VIEWER = "viewer", _("Viewer")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("organization"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.get_role_display()})"


class StaffProfile(models.Model):
    """A staff member's own settings: the admin's language, whatever the browser says."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("user"),
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Blank: the browser's language."),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return str(self.user)


class TenantQuerySet(models.QuerySet):
    def for_organization(self, organization: Organization | int) -> TenantQuerySet:
        return self.filter(organization=organization)

    def for_user(self, user) -> TenantQuerySet:
        """Rows of the organizations `user` is a member of (all for a superuser)."""
        if user.is_superuser:
            return self.all()
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(
            organization__in=Membership.objects.filter(user=user).values("organization")
        )


class TenantModel(models.Model):
    """Abstract base of every row that belongs to one organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", verbose_name=_("organization")
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        # A row may only point at rows of its own organization.
        if not self.organization_id:
            return
        errors = {}
        for field in self._meta.concrete_fields:
            if not field.is_relation or field.name == "organization":
                continue
            related_model = field.related_model
            if not (isinstance(related_model, type) and issubclass(related_model, TenantModel)):
                continue
            related = getattr(self, field.name, None)
            if related is not None and related.organization_id != self.organization_id:
                errors[field.name] = _("Choose a row of the same organization.")
        if errors:
            raise ValidationError(errors)


class ApiKey(models.Model):
    """A credential an integration uses; bound to exactly one organization.

    The key is shown once at creation; only its SHA-256 is stored. The key is
    32 random bytes, so a fast hash is enough (no dictionary to attack); the
    prefix identifies the row without revealing the secret.
    """

    class Scope(models.TextChoices):
        """What a key may do: read only (GET), or also write. Chosen once, at creation."""

        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("organization"),
    )
    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(
        _("scope"),
        max_length=16,
        choices=Scope.choices,
        help_text=_(
            "Read only: the integration reads and changes nothing. Read and write: it may "
            "also create and change rows. Give the least it needs; it cannot be changed later."
        ),
    )
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(_("hashed key"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.READ_WRITE

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    KEY_PATTERN = re.compile(r"^(?P<prefix>[A-Za-z0-9]{8})\.(?P<secret>[A-Za-z0-9_-]{20,})$")


class Customer(TenantModel):
    email = models.EmailField(_("e-mail"))
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="fr"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                name="customer_unique_email",
                violation_error_message=_("A customer with this e-mail already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Address(TenantModel):
    class Kind(models.TextChoices):
        SHIPPING = "shipping", _("Shipping")
        BILLING = "billing", _("Billing")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="addresses", verbose_name=_("customer")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.SHIPPING)
    name = models.CharField(_("name"), max_length=200)
    company = models.CharField(_("company"), max_length=200, blank=True)
    line1 = models.CharField(_("address line 1"), max_length=200)
    line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    state = models.CharField(
        _("state / region"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("Where the country has them: a US state, a province, a county."),
    )
    country = CountryField(_("country"))
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    #: What a parcel needs; an edit of one of them is kept as an `AddressRevision`.
    #: Snapshots taken before the state existed have no "state" key: read them with .get().
    CONTENT_FIELDS = (
        "name",
        "company",
        "line1",
        "line2",
        "postcode",
        "city",
        "state",
        "country",
        "phone",
    )

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["customer_id", "kind", "id"]

    def __str__(self) -> str:
        town = f"{self.postcode} {self.city}" + (f", {self.state}" if self.state else "")
        return f"{self.name}, {self.line1}, {town}, {self.country}"

    def save(self, *args, **kwargs):
        """Save, keeping what an edited address said before (`AddressRevision`).

        Batches snapshot the address as it stood at their cut-off, even when
        they are locked a little later: they read the revisions made since.
        """
        before = None
        if self.pk is not None and not self._state.adding:
            before = Address.objects.filter(pk=self.pk).first()
        super().save(*args, **kwargs)
        if before is not None and before.snapshot() != self.snapshot():
            AddressRevision.objects.create(
                organization_id=self.organization_id, address=self, before=before.snapshot()
            )

    def snapshot(self) -> dict[str, str]:
        """Where a parcel goes, as plain values (kept by batch lines and shipments)."""
        return {name: str(getattr(self, name) or "") for name in self.CONTENT_FIELDS}


class AddressRevision(TenantModel):
    """An address as it was before one edit (addresses are edited in place by staff)."""

    address = models.ForeignKey(
        Address, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("address")
    )
    before = models.JSONField(_("before"))
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("address revision")
        verbose_name_plural = _("address revisions")
        ordering = ["address", "changed_at", "id"]

    def __str__(self) -> str:
        return str(self.address_id)


class Product(TenantModel):
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    unit_price = models.DecimalField(
        _("unit price"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text=_("In the organization's currency."),
    )
    active = models.BooleanField(_("active"), default=True)
    net_weight_grams = models.PositiveIntegerField(
        _("net weight (g)"),
        null=True,
        blank=True,
        help_text=_("Per unit; the production plan totals it (e.g. kilograms of each coffee)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sku"],
                name="product_unique_sku",
                violation_error_message=_("A product with this SKU already exists."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def clean(self) -> None:
        super().clean()
        if self.organization_id and self.sku:
            taken = (
                Variant.objects.filter(organization_id=self.organization_id, sku=self.sku)
                .select_related("product")
                .first()
            )
            if taken is not None:
                raise ValidationError({"sku": sku_taken_message(taken)})


def sku_taken_message(row: Product | Variant) -> str:
    """Why a SKU cannot be used: the product or variant of the organization holding it."""
    if isinstance(row, Variant):
        return _("The variant “%(name)s” already has this SKU.") % {"name": row.name}
    return _("The product “%(name)s” already has this SKU.") % {"name": row.name}


#: At most this many name/option pairs per variant, each text at most this long.
ATTRIBUTES_MAX = 10
ATTRIBUTE_TEXT_MAX = 100


def validate_attributes(value) -> None:
    """A list of {"name": text, "option": text} pairs, in the shop's order."""
    message = _('Expected a list of {"name": ..., "option": ...} pairs.')
    if not isinstance(value, list):
        raise ValidationError(message, code="invalid")
    if len(value) > ATTRIBUTES_MAX:
        raise ValidationError(
            _("At most %(count)d attributes.") % {"count": ATTRIBUTES_MAX}, code="max_length"
        )
    for pair in value:
        if not isinstance(pair, dict) or set(pair) != {"name", "option"}:
            raise ValidationError(message, code="invalid")
        for text in pair.values():
            if not isinstance(text, str) or not text.strip() or len(text) > ATTRIBUTE_TEXT_MAX:
                raise ValidationError(
                    _("Each name and option is a text of 1 to %(max)d characters.")
                    % {"max": ATTRIBUTE_TEXT_MAX},
                    code="invalid",
                )


def attribute_label(attributes: list[dict[str, str]] | None) -> str:
    """A variant's options as shoppers read them: "1 kg", "1 kg / Whole bean"."""
    return " / ".join(str(pair.get("option", "")) for pair in attributes or [] if pair)


class Variant(TenantModel):
    """One sellable version of a product (its size, its weight): what a box holds.

    A product without variants is sold as it is (a simple product); a product with
    variants is sold only through them. A variant's SKU is unique in its
    organization among products and variants alike.
    """

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="variants", verbose_name=_("product")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    attributes = models.JSONField(
        _("attributes"),
        default=list,
        blank=True,
        help_text=_('Ordered name/option pairs, e.g. [{"name": "Weight", "option": "1 kg"}].'),
        validators=[validate_attributes],
    )
    unit_price = models.DecimalField(
        _("unit price"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text=_("In the organization's currency."),
    )
    net_weight_grams = models.PositiveIntegerField(
        _("net weight (g)"),
        null=True,
        blank=True,
        help_text=_("Per unit; when empty, the product's weight counts."),
    )
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["product_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sku"],
                name="variant_unique_sku",
                violation_error_message=_("A variant with this SKU already exists."),
            )
        ]
        indexes = [models.Index(fields=["product", "position"], name="variant_product_position")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def clean(self) -> None:
        super().clean()
        if self.organization_id and self.sku:
            taken = Product.objects.filter(
                organization_id=self.organization_id, sku=self.sku
            ).first()
            if taken is not None:
                raise ValidationError({"sku": sku_taken_message(taken)})

    @property
    def label(self) -> str:
        """The options alone ("1 kg"), or the SKU when the variant has no attributes."""
        return attribute_label(self.attributes) or self.sku

    @property
    def name(self) -> str:
        """The name a pick list prints: "Espresso Blend - 1 kg"."""
        return f"{self.product.name} - {self.label}"

    @property
    def weight_grams(self) -> int | None:
        if self.net_weight_grams is not None:
            return self.net_weight_grams
        return self.product.net_weight_grams


class Contract(TenantModel):
    """A commercial agreement a subscription may refer to (optional everywhere)."""

    reference = models.CharField(_("reference"), max_length=64)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contracts",
        verbose_name=_("customer"),
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "reference"],
                name="contract_unique_reference",
                violation_error_message=_("A contract with this reference already exists."),
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="contract_ends_after_start",
                violation_error_message=_("A contract cannot end before it starts."),
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class ActorRecord(models.Model):
    """Abstract: the columns of a history row that say who acted (see `core.actors`)."""

    actor_kind = models.CharField(_("actor"), max_length=16, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff member"),
    )
    actor_api_key = models.ForeignKey(
        "crm.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("API key"),
    )
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)

    class Meta:
        abstract = True

    def actor_display(self) -> str:
        """Who acted, in the reader's language ("Système : renouvellements automatiques")."""
        return describe(self.actor_kind, self.get_actor_kind_display(), self.actor_label)


#: The longest staff note (a few paragraphs).
NOTE_MAX_LENGTH = 2000


class StaffNote(ActorRecord):
    """Abstract: what a staff member wrote down about someone, with who and when."""

    text = models.TextField(_("note"), max_length=NOTE_MAX_LENGTH)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.text[:60]


class CustomerNote(StaffNote, TenantModel):
    """A staff note on a customer ("prefers deliveries on Tuesdays")."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="notes", verbose_name=_("customer")
    )

    class Meta:
        verbose_name = _("staff note")
        verbose_name_plural = _("staff notes")
        ordering = ["-created_at", "-id"]


class CustomerEmail(TenantModel):
    """An e-mail the product sent a customer, or tried to: their page lists them."""

    class Kind(models.TextChoices):
        SURVEY = "survey", _("Satisfaction survey")
        AFTER_SALES = "after_sales", _("After-sales")
        PORTAL = "portal", _("Customer portal")

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Not sent")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="emails", verbose_name=_("customer")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    to = models.EmailField(_("to"))
    subject = models.CharField(_("subject"), max_length=300)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    error = models.CharField(_("error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), db_index=True)

    class Meta:
        verbose_name = _("e-mail sent")
        verbose_name_plural = _("e-mails sent")
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return self.subject
