"""After-sales cases: a return request is a task someone owns, with a due date.

`ReturnConfig` holds an organization's rules (return window, service level,
default assignee) and `ReturnReason` its list of reasons, retired rather than
deleted. A `ReturnRequest` is about one shipment (and so one batch line and
one subscription); its status is a django-fsm-2 machine:

    requested -> approved -> received -> resolved
              -> rejected      (approved -> resolved: the goods stay with the customer)
    requested | approved -> canceled

`returns.services` locks the row, applies the transition, and writes a
`ReturnNote` for every change: the case's timeline.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from core import clock
from core.translation import translated
from crm.models import ActorRecord, Organization, TenantModel
from returns.photos import EXTENSIONS

code_validator = RegexValidator(
    r"^[a-z][a-z0-9_]*\Z",
    _("Lower-case letters, digits and underscores, starting with a letter."),
)

#: The reasons a new organization starts with: (code, English label, French label).
DEFAULT_REASONS = (
    ("damaged", "Damaged in transit", "Abîmé pendant le transport"),
    ("wrong_item", "Wrong item", "Mauvais article"),
    ("not_as_described", "Not as described", "Non conforme à la description"),
    ("missing", "Missing item or parcel", "Article ou colis manquant"),
    ("changed_mind", "Changed mind", "Changement d\u2019avis"),
    ("other", "Other", "Autre"),
)


class ReturnConfig(models.Model):
    """An organization's after-sales rules."""

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="return_config",
        verbose_name=_("organization"),
    )
    window_days = models.PositiveSmallIntegerField(
        _("return window (days after delivery)"),
        default=14,
        validators=[MaxValueValidator(365)],
        help_text=_(
            "A request is accepted until the end of this many days after the delivery day "
            "(the organization's time). Staff may accept a later one with a reason."
        ),
    )
    service_level_days = models.PositiveSmallIntegerField(
        _("service level (days)"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("A case is due this many days after it is opened; later, it is overdue."),
    )
    default_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default assignee"),
        help_text=_("Who new cases are assigned to. Must be a member of the organization."),
    )
    overdue_list_sent_on = models.DateField(_("overdue list last sent on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("return settings")
        verbose_name_plural = _("return settings")

    def __str__(self) -> str:
        return str(self.organization)


class ReturnReason(TenantModel):
    code = models.CharField(
        _("code"),
        max_length=50,
        validators=[code_validator],
        help_text=_("How the API names it, e.g. damaged. Cannot change later."),
    )
    label = models.CharField(_("label"), max_length=100)
    labels = models.JSONField(
        _("translated labels"),
        default=dict,
        blank=True,
        help_text=_('Label per language code, e.g. {"fr": "Abîmé"}.'),
    )
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Retire a reason instead of deleting it: past cases keep it."),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("return reason")
        verbose_name_plural = _("return reasons")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="return_reason_code_per_organization"
            ),
        ]

    def __str__(self) -> str:
        return self.display_label

    @property
    def display_label(self) -> str:
        return translated(self.label, self.labels)


class ReturnRequest(ConcurrentTransitionMixin, TenantModel):
    """An after-sales case about one shipment."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        RECEIVED = "received", _("Goods received")
        RESOLVED = "resolved", _("Resolved")
        CANCELED = "canceled", pgettext_lazy("return case", "Canceled")

    OPEN = (Status.REQUESTED, Status.APPROVED, Status.RECEIVED)

    class Resolution(models.TextChoices):
        REFUND = "refund", _("Refund")
        REPLACEMENT = "replacement", _("Replacement in the next batch")
        CREDIT = "credit", _("Credit on the next charge")
        NONE = "none", _("Nothing owed")

    class Refund(models.TextChoices):
        NONE = "", _("No refund")
        RECORDED = "recorded", _("Recorded against the charge")
        TO_REFUND_IN_SHOP = "to_refund_in_shop", _("To refund in the shop")
        REFUNDED_IN_SHOP = "refunded_in_shop", _("Refunded in the shop")

    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        related_name="return_requests",
        verbose_name=_("customer"),
    )
    shipment = models.ForeignKey(
        "fulfillment.Shipment",
        on_delete=models.PROTECT,
        related_name="return_requests",
        verbose_name=_("shipment"),
    )
    line = models.ForeignKey(
        "fulfillment.BatchLine",
        on_delete=models.PROTECT,
        related_name="return_requests",
        verbose_name=_("batch line"),
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        on_delete=models.PROTECT,
        related_name="return_requests",
        verbose_name=_("subscription"),
    )
    reason = models.ForeignKey(
        ReturnReason, on_delete=models.PROTECT, related_name="+", verbose_name=_("reason")
    )
    description = models.TextField(_("description"), blank=True)
    items = models.JSONField(
        _("items returned"),
        default=list,
        blank=True,
        help_text=_("Products and quantities concerned, from the box; empty: the whole box."),
    )
    status = FSMField(
        _("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED, protected=True
    )
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=Resolution.choices, blank=True
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Refunded or credited."),
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    charge = models.ForeignKey(
        "subscriptions.Charge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="return_requests",
        verbose_name=_("charge refunded"),
    )
    refund = models.CharField(
        _("refund"), max_length=20, choices=Refund.choices, blank=True, default=Refund.NONE
    )
    replacement_line = models.OneToOneField(
        "fulfillment.BatchLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replacement_for",
        verbose_name=_("replacement box"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="return_requests",
        verbose_name=_("assignee"),
    )
    window_override = models.CharField(
        _("accepted outside the window because"), max_length=500, blank=True
    )
    due_at = models.DateTimeField(_("due"))
    opened_at = models.DateTimeField(_("opened"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("return request")
        verbose_name_plural = _("return requests")
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status"], name="return_org_status"),
            models.Index(
                fields=["due_at"],
                name="return_open_due",
                condition=models.Q(status__in=["requested", "approved", "received"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gt=0),
                name="return_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Case %(number)s") % {"number": self.pk}) if self.pk else str(_("New case"))

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and self.due_at < (now or clock.now())

    # --- Transitions (status only; see services for the rest) --------------

    @transition(field=status, source=Status.REQUESTED, target=Status.APPROVED)
    def approve(self):
        """Agreed: the customer may send the goods back (or keep them)."""

    @transition(field=status, source=Status.REQUESTED, target=Status.REJECTED)
    def reject(self):
        """Refused, with a reason the customer is told."""

    @transition(field=status, source=Status.APPROVED, target=Status.RECEIVED)
    def receive(self):
        """The goods came back."""

    @transition(field=status, source=[Status.APPROVED, Status.RECEIVED], target=Status.RESOLVED)
    def resolve(self):
        """Refunded, replaced, credited, or nothing owed."""

    @transition(field=status, source=[Status.REQUESTED, Status.APPROVED], target=Status.CANCELED)
    def cancel(self):
        """Withdrawn by the customer, or opened by mistake."""


class ReturnNote(ActorRecord, TenantModel):
    """One entry of a case's timeline: a note, a status change, an assignment."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        NOTE = "note", _("Note")
        STATUS = "status", _("Status changed")
        ASSIGNED = "assigned", _("Assigned")
        OVERRIDE = "override", _("Accepted outside the return window")
        REFUND = "refund", _("Refund")
        REPLACEMENT = "replacement", _("Replacement")
        CREDIT = "credit", _("Credit")
        PHOTOS = "photos", _("Photos added")

    request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="notes", verbose_name=_("case")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    from_status = models.CharField(
        _("from status"), max_length=16, choices=ReturnRequest.Status.choices, blank=True
    )
    to_status = models.CharField(
        _("to status"), max_length=16, choices=ReturnRequest.Status.choices, blank=True
    )
    text = models.TextField(_("text"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return str(self.get_kind_display())


def photo_upload_to(photo: ReturnPhoto, filename: str) -> str:
    """returns/<organization>/<case>/<random>.<ext>: the customer's file name is never
    used in the path (it is kept apart, for display), and a name cannot be guessed."""
    extension = EXTENSIONS.get(photo.content_type, "")
    return f"returns/{photo.organization_id}/{photo.request_id}/{secrets.token_hex(16)}{extension}"


class ReturnPhoto(ActorRecord, TenantModel):
    """A photo of a case (damage, wrong item...), checked by `services.return_photos_add`."""

    class ContentType(models.TextChoices):
        JPEG = "image/jpeg", "JPEG"
        PNG = "image/png", "PNG"
        WEBP = "image/webp", "WebP"

    request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="photos", verbose_name=_("case")
    )
    file = models.FileField(_("file"), upload_to=photo_upload_to, max_length=255)
    content_type = models.CharField(_("type"), max_length=20, choices=ContentType.choices)
    size = models.PositiveIntegerField(_("size (bytes)"))
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("added at"), default=timezone.now)

    class Meta:
        verbose_name = _("case photo")
        verbose_name_plural = _("case photos")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name or self.file.name.rsplit("/", 1)[-1]
