"""An organization's carrier account and the parcels it labelled, one per box.

`CarrierAccount` holds the platform, its keys (encrypted at rest, like a
WooCommerce shop's) and the shipping settings: the shipping method, per
destination country where it differs (`CountryShippingMethod`), the
packaging's weight and the label format. Organizations without one keep the
manual carrier of the dispatch form.

`Parcel` is one box's parcel on the platform: one-to-one with the batch line
(a box), so a box never has two. It is written before the platform is asked
(`pending`), then `labelled` with the platform's ids, tracking and label, or
`refused` with the platform's message. The carrier's status fields
(`carrier_status*`) are what the tracking webhooks will move; the label is the
platform's link to the document (see decision 18).
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from core.encryption import EncryptedTextField
from crm.models import TenantModel
from fulfillment.models import line_code


class CarrierAccount(TenantModel):
    """An organization's connection to a carrier platform (administrators configure it)."""

    class Platform(models.TextChoices):
        SENDCLOUD = "sendcloud", "Sendcloud"
        # Fictitious (carriers/platforms/demo.py): development and the demo data only.
        DEMO = "demo", _("Demo (fictitious)")

    class LabelFormat(models.TextChoices):
        A6 = "a6", _("A6 (label printer)")
        A4 = "a4", _("A4, four labels per page")

    platform = models.CharField(
        _("platform"), max_length=20, choices=Platform.choices, default=Platform.SENDCLOUD
    )
    public_key = EncryptedTextField(_("public key"), blank=True)
    secret_key = EncryptedTextField(_("secret key"), blank=True)
    active = models.BooleanField(
        _("active"), default=True, help_text=_("An inactive account creates no label.")
    )
    shipping_method = models.CharField(
        _("shipping method"),
        max_length=200,
        help_text=_(
            "The platform's code of the shipping method, e.g. colissimo:home/signature "
            "(Sendcloud: the shipping option code)."
        ),
    )
    sender_address_id = models.PositiveIntegerField(
        _("sender address id"),
        null=True,
        blank=True,
        help_text=_("The id of the sender address set up on the platform."),
    )
    packaging_grams = models.PositiveIntegerField(
        _("packaging weight (g)"),
        default=0,
        validators=[MaxValueValidator(50_000)],
        help_text=_("Added to the weight of each box's items."),
    )
    label_format = models.CharField(
        _("label format"), max_length=2, choices=LabelFormat.choices, default=LabelFormat.A6
    )
    # The tracking webhooks' address names the account by this, never by its id: not
    # guessable, so another organization's address cannot be probed (decision 18).
    webhook_token = models.UUIDField(
        _("webhook token"), default=uuid.uuid4, unique=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("carrier account")
        verbose_name_plural = _("carrier accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                name="carrier_account_one_per_organization",
                violation_error_message=_("This organization already has a carrier account."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} ({self.organization})"

    @property
    def has_keys(self) -> bool:
        return bool(self.public_key and self.secret_key)

    @property
    def is_demo(self) -> bool:
        """The fictitious platform's: its labels ship nothing."""
        return self.platform == self.Platform.DEMO

    @property
    def keys_ready(self) -> bool:
        """Whether its platform can be called: its keys are set (the demo needs none)."""
        return self.is_demo or self.has_keys

    def webhook_path(self) -> str:
        return reverse("carrier-webhook", kwargs={"token": str(self.webhook_token)})


class CountryShippingMethod(TenantModel):
    """The shipping method for one destination country, where it differs from the account's."""

    account = models.ForeignKey(
        CarrierAccount,
        on_delete=models.CASCADE,
        related_name="country_methods",
        verbose_name=_("carrier account"),
    )
    country = CountryField(_("destination country"))
    shipping_method = models.CharField(_("shipping method"), max_length=200)

    class Meta:
        verbose_name = _("shipping method per country")
        verbose_name_plural = _("shipping methods per country")
        ordering = ["account", "country"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "country"],
                name="carrier_country_method_unique",
                violation_error_message=_("This country already has a shipping method."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.country}: {self.shipping_method}"


class Parcel(TenantModel):
    """One box's parcel on the carrier platform: never two for one box (`line` is unique)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for its label")
        LABELLED = "labelled", _("Labelled")
        REFUSED = "refused", _("Refused by the platform")

    line = models.OneToOneField(
        "fulfillment.BatchLine",
        on_delete=models.PROTECT,
        related_name="parcel",
        verbose_name=_("line"),
    )
    batch = models.ForeignKey(
        "fulfillment.Batch", on_delete=models.PROTECT, related_name="+", verbose_name=_("batch")
    )
    account = models.ForeignKey(
        CarrierAccount,
        on_delete=models.PROTECT,
        related_name="parcels",
        verbose_name=_("carrier account"),
    )
    state = models.CharField(
        _("label state"), max_length=16, choices=State.choices, default=State.PENDING
    )
    refusal = models.TextField(_("platform's message"), blank=True)
    # Sent to the platform with the request; a refusal makes the next attempt use a new one.
    reference = models.CharField(_("reference"), max_length=100)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    # What was asked (the last attempt's)
    weight_grams = models.PositiveIntegerField(_("weight (g)"), null=True, blank=True)
    shipping_method = models.CharField(_("shipping method"), max_length=200, blank=True)
    address = models.JSONField(_("shipping address"), null=True, blank=True)
    # What the platform answered
    platform_parcel_id = models.CharField(_("parcel id"), max_length=100, blank=True)
    platform_shipment_id = models.CharField(_("shipment id"), max_length=100, blank=True)
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    tracking_url = models.URLField(_("tracking link"), max_length=1000, blank=True)
    label_url = models.URLField(_("label link"), max_length=1000, blank=True)
    labelled_at = models.DateTimeField(_("labelled at"), null=True, blank=True)
    # The carrier's status, moved by the tracking (webhooks, the periodic pull).
    carrier_status = models.CharField(_("carrier status"), max_length=100, blank=True)
    carrier_status_message = models.CharField(
        _("carrier status message"), max_length=500, blank=True
    )
    carrier_status_at = models.DateTimeField(_("carrier status time"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("parcel")
        verbose_name_plural = _("parcels")
        ordering = ["batch", "line"]
        indexes = [
            models.Index(fields=["batch", "state"], name="parcel_batch_state"),
            models.Index(fields=["account", "platform_parcel_id"], name="parcel_platform_id"),
        ]

    def __str__(self) -> str:
        return str(_("Parcel of line %(code)s") % {"code": self.code})

    @property
    def code(self) -> str:
        return line_code(self.line_id) if self.line_id else ""


class CarrierDelivery(TenantModel):
    """One status of a parcel from the platform: a signed webhook, or the periodic pull.

    Stored as received (the raw body, answered 200 at once) and applied by a worker
    (`carriers.tracking.delivery_apply`): an outbox like WooCommerce's. A repeated
    body is one row (`body_sha256` unique per account). Once applied, it names its
    parcel and the status it carried, which is the parcel's status history.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    class Source(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        PULL = "pull", _("Periodic pull")

    class Meaning(models.TextChoices):
        """What a platform's status means for the shipment (carriers/tracking.py)."""

        SHIPPED = "shipped", _("On its way")
        DELIVERED = "delivered", _("Delivered")
        RETURNED = "returned", _("Returned to sender")
        UNDELIVERABLE = "undeliverable", _("Undeliverable")
        INFO = "info", _("For information")
        UNKNOWN = "unknown", _("Unknown status")

    class Note(models.TextChoices):
        """What applying it did (codes: shown in the reader's language)."""

        INVALID = "invalid", _("Not a parcel status change: ignored.")
        NO_PARCEL = "no_parcel", _("No parcel of this account has this id or order number.")
        OLDER = "older", _("Older than the parcel's last status: recorded, nothing moved.")
        UNKNOWN_STATUS = "unknown_status", _("Unknown status: recorded on the parcel.")
        NOT_DISPATCHED = (
            "not_dispatched",
            _("The box is not dispatched yet: recorded on the parcel."),
        )
        NOT_MOVED = (
            "not_moved",
            _("The shipment's status does not allow this change: recorded on the parcel."),
        )
        RECORDED = "recorded", _("Recorded on the parcel.")
        SHIPPED = "shipped", _("Shipment marked shipped.")
        DELIVERED = "delivered", _("Shipment marked delivered at the carrier's time.")
        RETURNED = "returned", _("Shipment marked returned.")
        LOST = "lost", _("Shipment marked lost.")
        ERROR = "error", _("Applying it failed several times: see the logs.")

    account = models.ForeignKey(
        CarrierAccount,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("carrier account"),
    )
    parcel = models.ForeignKey(
        Parcel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("parcel"),
    )
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.WEBHOOK
    )
    body = models.BinaryField(_("body"))
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    # What it carried, once read: the platform's status, its meaning here, its time.
    carrier_status = models.CharField(_("carrier status"), max_length=100, blank=True)
    carrier_status_message = models.CharField(
        _("carrier status message"), max_length=500, blank=True
    )
    meaning = models.CharField(_("meaning"), max_length=20, choices=Meaning.choices, blank=True)
    carrier_status_at = models.DateTimeField(_("carrier status time"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=20, choices=Note.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tracking delivery")
        verbose_name_plural = _("tracking deliveries")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "body_sha256"], name="carrier_delivery_unique_body"
            )
        ]
        indexes = [
            models.Index(
                fields=["updated_at"],
                name="carrier_delivery_unfinished",
                condition=models.Q(status="received"),
            ),
        ]

    def __str__(self) -> str:
        return str(_("Tracking delivery %(id)s") % {"id": self.pk})
