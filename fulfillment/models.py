"""The weekly cycle of an organization: its cut-off settings and its batches.

A `Batch` is one cycle's shipment run. While `open` it is a live preview;
at `cutoff_at` it is locked and its content frozen; then dispatched and
completed. The cut-off rule is decided by time (`cutoff_at`), not by the
batch's status: a change at or after `cutoff_at` belongs to the next batch
even before the lock task has run.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from crm.models import Organization, TenantModel
from fulfillment import calendar


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


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
    cutoff_at = models.DateTimeField(_("cut-off"))
    ships_on = models.DateField(_("ships on"))
    status = FSMField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN, protected=True
    )
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
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
        return str(_("Batch of %(date)s") % {"date": self.cycle_date.isoformat()})

    @staticmethod
    def ships_on_for(cutoff_at: datetime, settings: FulfillmentSettings):
        return calendar.cycle_date(cutoff_at, settings.organization.tzinfo) + timedelta(
            days=settings.shipping_offset_days
        )

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
        """No shipment run this cycle."""
