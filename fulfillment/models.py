"""The weekly cycle of an organization: its cut-off settings and its batches.

A `Batch` is one cycle's shipment run. While `open` it is a live preview;
at `cutoff_at` it is locked and its content frozen; then dispatched and
completed. The cut-off rule is decided by time (`cutoff_at`), not by the
batch's status: a change at or after `cutoff_at` belongs to the next batch
even before the lock task has run.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from crm.models import Organization, TenantModel
from fulfillment import calendar


class Weekday(models.IntegerChoices):
    # A context of their own: capitalised in a list of choices, while Django's own
    # "Monday"... stay lower case in French dates ("le mercredi 9 décembre").
    MONDAY = 0, pgettext_lazy("weekday choice", "Monday")
    TUESDAY = 1, pgettext_lazy("weekday choice", "Tuesday")
    WEDNESDAY = 2, pgettext_lazy("weekday choice", "Wednesday")
    THURSDAY = 3, pgettext_lazy("weekday choice", "Thursday")
    FRIDAY = 4, pgettext_lazy("weekday choice", "Friday")
    SATURDAY = 5, pgettext_lazy("weekday choice", "Saturday")
    SUNDAY = 6, pgettext_lazy("weekday choice", "Sunday")


class FulfillmentSettings(models.Model):
    """When an organization closes each weekly cycle, and what happens to unpaid boxes."""

    class UnpaidLines(models.TextChoices):
        ROLL = "roll", _("Roll to the next batch")
        EXCLUDE = "exclude", _("Exclude from the batch")

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="fulfillment_settings",
        verbose_name=_("organization"),
    )
    cutoff_weekday = models.PositiveSmallIntegerField(
        _("cut-off weekday"), choices=Weekday.choices, default=Weekday.WEDNESDAY
    )
    cutoff_time = models.TimeField(
        _("cut-off time"),
        default=time(12, 0),
        help_text=_("In the organization's time zone."),
    )
    shipping_offset_days = models.PositiveSmallIntegerField(
        _("shipping day (days after the cut-off)"),
        default=1,
        validators=[MaxValueValidator(6)],
    )
    unpaid_lines = models.CharField(
        _("lines still unpaid at dispatch"),
        max_length=16,
        choices=UnpaidLines.choices,
        default=UnpaidLines.ROLL,
    )
    default_carrier = models.CharField(
        _("default carrier"),
        max_length=100,
        blank=True,
        help_text=_("Proposed when a batch is dispatched, e.g. Colissimo."),
    )

    class Meta:
        verbose_name = _("fulfillment settings")
        verbose_name_plural = _("fulfillment settings")

    def __str__(self) -> str:
        return str(self.organization)

    def next_cutoff(self, after: datetime) -> datetime:
        return calendar.next_cutoff(
            after,
            weekday=self.cutoff_weekday,
            at=self.cutoff_time,
            tz=self.organization.tzinfo,
        )


class Batch(ConcurrentTransitionMixin, TenantModel):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        LOCKED = "locked", _("Locked")
        DISPATCHED = "dispatched", _("Dispatched")
        COMPLETED = "completed", _("Completed")
        CANCELED = "canceled", _("Canceled")

    cycle_date = models.DateField(
        _("cycle"), help_text=_("The local date of the cut-off: the name of the cycle.")
    )
    starts_at = models.DateTimeField(
        _("covers cycles from"),
        help_text=_(
            "Billing cycles starting from this instant up to the cut-off ship in this batch: "
            "the previous batch's cut-off (or, after a canceled batch, where it started)."
        ),
    )
    cutoff_at = models.DateTimeField(_("cut-off"))
    ships_on = models.DateField(_("ships on"))
    status = FSMField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN, protected=True
    )
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ["-cutoff_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "cycle_date"], name="batch_one_per_cycle"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status="open"),
                name="batch_one_open_per_organization",
            ),
        ]
        indexes = [
            models.Index(
                fields=["cutoff_at"], name="batch_open_cutoff", condition=models.Q(status="open")
            ),
        ]

    def __str__(self) -> str:
        date = formats.date_format(self.cycle_date, "DATE_FORMAT")
        return str(_("Batch of %(date)s") % {"date": date})

    @staticmethod
    def ships_on_for(cutoff_at: datetime, settings: FulfillmentSettings):
        return calendar.cycle_date(cutoff_at, settings.organization.tzinfo) + timedelta(
            days=settings.shipping_offset_days
        )

    # Status only; `fulfillment.services` locks the row, checks the rest and saves.

    @transition(field=status, source=Status.OPEN, target=Status.LOCKED)
    def lock(self):
        """Freeze the cycle's content at its cut-off."""

    @transition(field=status, source=Status.LOCKED, target=Status.DISPATCHED)
    def dispatch(self):
        """Hand the prepared boxes to the carrier."""

    @transition(field=status, source=Status.DISPATCHED, target=Status.COMPLETED)
    def complete(self):
        """Every shipment delivered or closed."""

    @transition(field=status, source=Status.OPEN, target=Status.CANCELED)
    def cancel(self):
        """No shipment run this cycle: its cycles ship with the next batch."""


def _luhn_digit(digits: str) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def line_code(pk: int) -> str:
    """The code printed on a packing slip: the line's id and a check digit.

    The check digit (Luhn) catches a mistyped or misread digit at the scanner.
    """
    digits = str(pk)
    return f"{digits}{_luhn_digit(digits)}"


def line_pk_from_code(code: str) -> int | None:
    """The line id a scanned code stands for; None when it is not a valid code."""
    code = code.strip()
    if not code.isdigit() or len(code) < 2 or len(code) > 19:
        return None
    digits, check = code[:-1], int(code[-1])
    return int(digits) if _luhn_digit(digits) == check else None


class BatchLine(ConcurrentTransitionMixin, TenantModel):
    """One box of a batch: a subscription's billing cycle, frozen at the cut-off.

    `address`, `items` and `preferences` are snapshots as they stood at the
    batch's `cutoff_at`. Charge-then-ship: a line is `awaiting_payment` until
    its cycle's charge is paid, then `ready`; staff mark it `prepared`; the
    dispatch turns it `shipped` (with a `Shipment`), and rolls or excludes
    what is still unpaid.

    A replacement line (`kind="replacement"`, written by an after-sales case)
    has no cycle and no charge: it is owed, so it is `ready` from the start
    and ships without payment; its content is the case's, never re-read.
    """

    class Kind(models.TextChoices):
        CYCLE = "cycle", _("Billing cycle")
        REPLACEMENT = "replacement", _("Replacement")

    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
        READY = "ready", _("Ready")
        PREPARED = "prepared", _("Prepared")
        SHIPPED = "shipped", _("Shipped")
        EXCLUDED = "excluded", _("Excluded")
        ROLLED = "rolled", _("Rolled to the next batch")

    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="lines", verbose_name=_("batch")
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        on_delete=models.PROTECT,
        related_name="batch_lines",
        verbose_name=_("subscription"),
    )
    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.PROTECT, related_name="+", verbose_name=_("customer")
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=Kind.choices, default=Kind.CYCLE, db_default=Kind.CYCLE
    )
    cycle = models.PositiveIntegerField(_("billing cycle"), null=True, blank=True)
    charge = models.ForeignKey(
        "subscriptions.Charge",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="batch_lines",
        verbose_name=_("charge"),
    )
    status = FSMField(
        _("status"),
        max_length=20,
        choices=Status.choices,
        default=Status.AWAITING_PAYMENT,
        protected=True,
    )
    address = models.JSONField(_("shipping address"), null=True, blank=True)
    items = models.JSONField(_("items"), default=list, blank=True)
    preferences = models.JSONField(_("preferences"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    rolled_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rolled from"),
    )
    prepared_at = models.DateTimeField(_("prepared at"), null=True, blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("prepared by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("batch line")
        verbose_name_plural = _("batch lines")
        ordering = ["batch", "id"]
        constraints = [
            # A billing cycle ships once: a rolled line leaves its place to its copy.
            models.UniqueConstraint(
                fields=["subscription", "cycle"],
                condition=~models.Q(status="rolled"),
                name="batch_line_one_per_cycle",
            ),
        ]
        indexes = [models.Index(fields=["batch", "status"], name="batch_line_status")]

    def __str__(self) -> str:
        return str(_("Line %(code)s") % {"code": self.code}) if self.pk else str(_("New line"))

    @property
    def code(self) -> str:
        return line_code(self.pk) if self.pk else ""

    @transition(field=status, source=Status.READY, target=Status.PREPARED)
    def prepare(self):
        """Packed and labelled in the packing room."""

    @transition(field=status, source=Status.PREPARED, target=Status.READY)
    def unprepare(self):
        """Taken back out of the prepared pile (a mistake at the scanner)."""

    @transition(
        field=status,
        source=[Status.AWAITING_PAYMENT, Status.READY, Status.PREPARED],
        target=Status.EXCLUDED,
    )
    def exclude(self):
        """Left out of this batch by staff, with a reason."""


class Shipment(ConcurrentTransitionMixin, TenantModel):
    """A parcel handed to a carrier for one prepared batch line."""

    class Status(models.TextChoices):
        # An "envoi" in French: every status agrees with it (masculine).
        CREATED = "created", pgettext_lazy("shipment", "Created")
        SHIPPED = "shipped", pgettext_lazy("shipment", "Shipped")
        DELIVERED = "delivered", _("Delivered")
        RETURNED = "returned", _("Returned")
        LOST = "lost", _("Lost")

    CLOSED = (Status.DELIVERED, Status.RETURNED, Status.LOST)

    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="shipments", verbose_name=_("batch")
    )
    line = models.OneToOneField(
        BatchLine, on_delete=models.PROTECT, related_name="shipment", verbose_name=_("line")
    )
    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        related_name="shipments",
        verbose_name=_("customer"),
    )
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    # The carrier's tracking page: from the box's parcel, when labelled on a carrier platform.
    tracking_url = models.URLField(_("tracking link"), max_length=1000, blank=True)
    status = FSMField(
        _("status"), max_length=16, choices=Status.choices, default=Status.CREATED, protected=True
    )
    address = models.JSONField(_("shipping address"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["batch", "status"], name="shipment_batch_status"),
            models.Index(fields=["organization", "tracking_number"], name="shipment_tracking"),
        ]

    def __str__(self) -> str:
        return str(_("Shipment %(id)s") % {"id": self.pk})

    @property
    def is_closed(self) -> bool:
        return self.status in self.CLOSED

    @transition(field=status, source=Status.CREATED, target=Status.SHIPPED)
    def ship(self):
        """Handed to the carrier."""

    @transition(field=status, source=[Status.CREATED, Status.SHIPPED], target=Status.DELIVERED)
    def deliver(self):
        """The carrier reports it delivered."""

    @transition(field=status, source=[Status.SHIPPED, Status.DELIVERED], target=Status.RETURNED)
    def mark_returned(self):
        """Came back to the sender."""

    @transition(field=status, source=[Status.CREATED, Status.SHIPPED], target=Status.LOST)
    def mark_lost(self):
        """The carrier lost it."""
