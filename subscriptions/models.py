"""Subscriptions, their items, one charge per billing cycle, and their history.

The status is a django-fsm-2 machine: the transition methods below only
declare which status may follow which; `subscriptions.services` locks the row,
calls them, saves, writes the `SubscriptionEvent` and schedules work. Nothing
else assigns the status (the field is protected).

Cycle numbers: cycle n of a subscription starts at
`schedule.cycle_start(anchor=billing_anchor, cycle=n - anchor_cycle, ...)`.
A change of schedule re-anchors at the next charge date and sets
`anchor_cycle` to that cycle's number, so numbers keep increasing and each
cycle keeps exactly one `Charge`. A native subscription counts in the
organization's wall-clock time; a shop's one counts as the shop does, in GMT
(`calendar`; docs/decisions/0011).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from crm.models import (
    ActorRecord,
    Address,
    Contract,
    Customer,
    Organization,
    Product,
    StaffNote,
    TenantModel,
    Variant,
)
from subscriptions import schedule


class BillingPeriod(models.TextChoices):
    DAY = "day", _("day")
    WEEK = "week", _("week")
    MONTH = "month", _("month")
    YEAR = "year", _("year")


def default_retry_days() -> list[int]:
    return list(schedule.DEFAULT_RETRY_DAYS)


class BillingSettings(models.Model):
    """How an organization charges its native subscriptions."""

    class Gateway(models.TextChoices):
        MANUAL = "manual", _("Manual (staff mark charges paid or failed)")
        TEST = "test", _("Test (deterministic outcomes, for demos and tests)")

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="billing_settings",
        verbose_name=_("organization"),
    )
    gateway = models.CharField(
        _("payment gateway"), max_length=32, choices=Gateway.choices, default=Gateway.MANUAL
    )
    retry_days = ArrayField(
        models.PositiveSmallIntegerField(validators=[MinValueValidator(1)]),
        verbose_name=_("dunning retries (days after the first failure)"),
        default=default_retry_days,
        help_text=_(
            "A failed charge is retried this many days after its first failure, "
            "then the subscription is canceled. Comma-separated, e.g. 1,3,5."
        ),
    )

    class Meta:
        verbose_name = _("billing settings")
        verbose_name_plural = _("billing settings")

    def __str__(self) -> str:
        return str(self.organization)


class Subscription(ConcurrentTransitionMixin, TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        PAST_DUE = "past_due", _("Past due")
        CANCELED = "canceled", pgettext_lazy("subscription", "Canceled")
        EXPIRED = "expired", _("Expired")

    class Source(models.TextChoices):
        NATIVE = "native", _("Native (charged by this back office)")
        WOOCOMMERCE = "woocommerce", _("WooCommerce (charged by the shop)")

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("customer")
    )
    contract = models.ForeignKey(
        Contract,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="subscriptions",
        verbose_name=_("contract"),
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.NATIVE
    )
    status = FSMField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING, protected=True
    )
    billing_interval = models.PositiveSmallIntegerField(
        _("billing interval"), default=1, validators=[MinValueValidator(1)]
    )
    billing_period = models.CharField(
        _("billing period"), max_length=8, choices=BillingPeriod.choices, default="month"
    )
    billing_anchor = models.DateTimeField(
        _("billing anchor"),
        help_text=_("Every cycle date is counted from this instant, never from the last one."),
    )
    anchor_cycle = models.PositiveIntegerField(_("cycle at the anchor"), default=0)
    started_at = models.DateTimeField(_("started at"))
    trial_ends_at = models.DateTimeField(_("trial ends at"), null=True, blank=True)
    current_cycle = models.IntegerField(_("current cycle"), null=True, blank=True)
    current_period_start = models.DateTimeField(_("current period start"), null=True, blank=True)
    current_period_end = models.DateTimeField(_("current period end"), null=True, blank=True)
    next_cycle = models.PositiveIntegerField(_("next cycle"), default=0)
    next_charge_at = models.DateTimeField(_("next charge at"), null=True, blank=True)
    skipped_cycles = ArrayField(
        models.PositiveIntegerField(), verbose_name=_("skipped cycles"), default=list, blank=True
    )
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    resume_at = models.DateTimeField(_("resume at"), null=True, blank=True)
    cancel_at_period_end = models.BooleanField(_("cancel at period end"), default=False)
    canceled_at = models.DateTimeField(_("canceled at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ends_at = models.DateTimeField(
        _("fixed end"),
        null=True,
        blank=True,
        help_text=_("A fixed-term subscription charges no cycle starting at or after this."),
    )
    cancel_reason = models.CharField(_("cancel reason"), max_length=500, blank=True)
    # PROTECT: an address a subscription ships to is edited in place, never deleted
    # from under it (its boxes would lose where they go; see crm.services).
    shipping_address = models.ForeignKey(
        Address,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("shipping address"),
    )
    billing_address = models.ForeignKey(
        Address,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("billing address"),
        help_text=_("Who is invoiced; a shop's subscription keeps the one the shop sends."),
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        help_text=_(
            "Its amounts are in this currency; one other than the organization's is never "
            "added into the organization's totals."
        ),
    )
    adjustment = models.DecimalField(
        _("adjustment carried to the next charge"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text=_("Pro-rata charges (positive) and credits (negative) not yet charged."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_charge_at"],
                name="subscription_due",
                condition=models.Q(source="native", status__in=["pending", "active"]),
            ),
            models.Index(fields=["organization", "status"], name="subscription_org_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_interval__gte=1), name="subscription_interval_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer}"

    # --- Schedule ------------------------------------------------------------

    @property
    def is_native(self) -> bool:
        return self.source == self.Source.NATIVE

    @property
    def calendar(self) -> dict[str, str]:
        """How its dates are counted (`tz` and `rule` of `subscriptions.schedule`).

        Native: the organization's wall clock, keeping the anchor's day. A shop's
        subscription: the shop's own arithmetic in GMT, so its dates are the shop's to
        the second, summer and winter.
        """
        if self.source == self.Source.WOOCOMMERCE:
            return {"tz": "UTC", "rule": schedule.WOOCOMMERCE}
        return {"tz": self.organization.timezone, "rule": schedule.ANCHOR_DAY}

    def _schedule(self) -> dict:
        return {
            "anchor": self.billing_anchor,
            "period": self.billing_period,
            "interval": self.billing_interval,
            **self.calendar,
        }

    def cycle_start(self, cycle: int) -> datetime:
        if cycle == 0 and self.anchor_cycle > 0 and self.source == self.Source.WOOCOMMERCE:
            # Anchored again at a date of the shop's (a trial's end, a late renewal):
            # cycle 0 still starts at the shop's start date.
            return self.started_at
        return schedule.cycle_start(cycle=cycle - self.anchor_cycle, **self._schedule())

    def cycle_bounds(self, cycle: int) -> tuple[datetime, datetime]:
        return self.cycle_start(cycle), self.cycle_start(cycle + 1)

    def nearest_cycle(self, at: datetime) -> int:
        """The cycle whose start is nearest to `at` (a date the shop reports)."""
        return schedule.nearest_cycle(at=at, **self._schedule()) + self.anchor_cycle

    def resuming_cycle(self, at: datetime) -> int:
        """The cycle charged first when the subscription resumes at `at`.

        The first cycle starting at or after `at`, never one before the schedule's
        next (already charged, skipped or passed over) nor a skipped one. Cycles
        whose date falls in the pause are not charged.
        """
        first = schedule.first_cycle_from(**self._schedule(), at=at) + self.anchor_cycle
        return schedule.next_cycle(
            after=max(first, self.next_cycle) - 1, skipped=self.skipped_cycles
        )

    def next_due(self) -> tuple[int, datetime] | None:
        """The next cycle that will be charged, and when; `None` when none or not known.

        What staff and the API are shown as the next charge. A paused subscription's
        next charge is the first cycle after its resume date (the one the resume will
        charge, a skip will skip); with no resume date it is not known. Otherwise it
        is the schedule's next charge (`next_charge_at`).
        """
        if self.status == self.Status.PAUSED and self.is_native:
            if self.resume_at is None or self.next_charge_at is None:
                return None
            cycle = self.resuming_cycle(self.resume_at)
            starts_at = self.cycle_start(cycle)
            if not schedule.in_term(cycle_starts_at=starts_at, ends_at=self.ends_at):
                return None
            return cycle, starts_at
        if self.next_charge_at is None:
            return None
        return self.next_cycle, self.next_charge_at

    @property
    def next_due_at(self) -> datetime | None:
        due = self.next_due()
        return due[1] if due else None

    def upcoming_cycles(
        self, count: int = 6, *, first: int | None = None
    ) -> list[tuple[int, datetime]]:
        """The next `count` charged cycles: (number, start), skipped ones left out.

        From the schedule's next cycle, or from cycle `first` (a paused one's resume).
        """
        first = self.next_cycle if first is None else first
        return [
            (cycle + self.anchor_cycle, start)
            for cycle, start in schedule.upcoming(
                **self._schedule(),
                after=first - 1 - self.anchor_cycle,
                count=count,
                skipped=[c - self.anchor_cycle for c in self.skipped_cycles],
                ends_at=self.ends_at,
            )
        ]

    # --- Transitions (status only; see services for the rest) --------------

    @transition(field=status, source=Status.PENDING, target=Status.ACTIVE, custom={"admin": False})
    def activate(self):
        pass

    @transition(
        field=status,
        source=Status.ACTIVE,
        target=Status.PAUSED,
        custom={"label": _("Pause"), "form": "subscriptions.forms.PauseForm"},
    )
    def pause(self, **kwargs):
        pass

    @transition(
        field=status, source=Status.PAUSED, target=Status.ACTIVE, custom={"label": _("Resume")}
    )
    def resume(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.ACTIVE, Status.PAUSED],
        target=None,
        custom={"label": _("Skip the next cycle")},
    )
    def skip(self, **kwargs):
        pass

    # The delivery schedule (subscriptions.services, "Delivery schedule"): a given
    # future cycle skipped or brought back, the next charge date moved. Acted on
    # from the schedule table, not as status buttons.
    @transition(
        field=status, source=[Status.ACTIVE, Status.PAUSED], target=None, custom={"admin": False}
    )
    def skip_cycle(self, **kwargs):
        pass

    @transition(
        field=status, source=[Status.ACTIVE, Status.PAUSED], target=None, custom={"admin": False}
    )
    def unskip_cycle(self, **kwargs):
        pass

    @transition(field=status, source=Status.ACTIVE, target=None, custom={"admin": False})
    def move_next_date(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.PENDING, Status.ACTIVE, Status.PAUSED],
        target=None,
        custom={"label": _("Change schedule"), "form": "subscriptions.forms.ChangeScheduleForm"},
    )
    def change_schedule(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.PENDING, Status.ACTIVE, Status.PAUSED],
        target=None,
        custom={"admin": False},
    )
    def change_items(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.PENDING, Status.ACTIVE, Status.PAUSED, Status.PAST_DUE],
        target=Status.CANCELED,
        custom={
            "label": pgettext_lazy("subscription", "Cancel"),
            "form": "subscriptions.forms.CancelForm",
        },
    )
    def cancel(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.ACTIVE, Status.PAUSED],
        target=None,
        custom={"admin": False},
    )
    def schedule_cancel(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.ACTIVE, Status.PAUSED, Status.PAST_DUE],
        target=None,
        conditions=[lambda subscription: subscription.cancel_at_period_end],
        custom={"label": _("Withdraw the cancellation")},
    )
    def withdraw_cancellation(self, **kwargs):
        pass

    @transition(
        field=status,
        source=[Status.ACTIVE, Status.PAUSED, Status.PAST_DUE],
        target=Status.EXPIRED,
        custom={"admin": False},
    )
    def expire(self):
        pass

    @transition(field=status, source=Status.ACTIVE, target=Status.PAST_DUE, custom={"admin": False})
    def mark_past_due(self):
        pass

    @transition(field=status, source=Status.PAST_DUE, target=Status.ACTIVE, custom={"admin": False})
    def recover(self):
        pass

    @transition(
        field=status, source="*", target=RETURN_VALUE(*Status.values), custom={"admin": False}
    )
    def mirror(self, status: str) -> str:
        """Take the status the shop reports (WooCommerce subscriptions only).

        The shop is the source of truth for its subscriptions, and its webhooks
        can skip intermediate states, so any status may follow any other.
        """
        return status


class SubscriptionItem(TenantModel):
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="items", verbose_name=_("subscription")
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    variant = models.ForeignKey(
        Variant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("variant"),
        help_text=_("Required when the product has variants: the one the box holds."),
    )
    quantity = models.PositiveIntegerField(
        _("quantity"), default=1, validators=[MinValueValidator(1)]
    )
    unit_price = models.DecimalField(
        _("unit price"), max_digits=10, decimal_places=2, validators=[MinValueValidator(0)]
    )

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="subscription_item_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    def clean(self) -> None:
        super().clean()
        if self.variant_id and self.product_id and self.variant.product_id != self.product_id:
            raise ValidationError({"variant": _("This variant is not one of the product's.")})

    @property
    def name(self) -> str:
        """What goes in the box: the variant's name, or the simple product's."""
        return self.variant.name if self.variant_id else self.product.name

    @property
    def sku(self) -> str:
        return self.variant.sku if self.variant_id else self.product.sku

    @property
    def weight_grams(self) -> int | None:
        return self.variant.weight_grams if self.variant_id else self.product.net_weight_grams

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


class Charge(TenantModel):
    """What one billing cycle of a subscription costs, and whether it is paid.

    Charge-then-ship: a cycle ships only once its charge is paid.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        PENDING = "pending", _("Pending")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Failed")
        REFUNDED = "refunded", _("Refunded")
        VOIDED = "voided", _("Voided")

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.CASCADE,
        related_name="charges",
        verbose_name=_("subscription"),
    )
    cycle = models.PositiveIntegerField(_("cycle"))
    period_start = models.DateTimeField(_("period start"))
    period_end = models.DateTimeField(_("period end"))
    amount = models.DecimalField(_("amount"), max_digits=10, decimal_places=2)
    adjustment = models.DecimalField(
        _("of which pro-rata adjustment"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
    )
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    first_failed_at = models.DateTimeField(_("first failed at"), null=True, blank=True)
    next_retry_at = models.DateTimeField(_("next retry at"), null=True, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    gateway = models.CharField(_("gateway"), max_length=32, blank=True)
    external_reference = models.CharField(
        _("external reference"),
        max_length=100,
        blank=True,
        help_text=_("The payment provider's reference, or the WooCommerce order id."),
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    refunded_amount = models.DecimalField(
        _("refunded"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        db_default=Decimal("0.00"),
        help_text=_("Refunds recorded against this charge; all of it: the charge is refunded."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        ordering = ["-cycle"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "cycle"], name="charge_one_per_subscription_cycle"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_retry_at"],
                name="charge_retry_due",
                condition=models.Q(status="failed", next_retry_at__isnull=False),
            ),
            models.Index(
                fields=["created_at"],
                name="charge_scheduled",
                condition=models.Q(status="scheduled"),
            ),
        ]

    def __str__(self) -> str:
        amount = formats.number_format(self.amount, 2, use_l10n=True, force_grouping=True)
        return f"{self.subscription_id}/{self.cycle}: {amount} {self.currency}"

    @property
    def refundable(self) -> Decimal:
        """What a refund may still give back: paid and not yet refunded."""
        if self.status != self.Status.PAID:
            return Decimal("0.00")
        return self.amount - self.refunded_amount


class SubscriptionEvent(ActorRecord, TenantModel):
    """One line of a subscription's history: who did what, when, from which status."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        ACTIVATED = "activated", _("Activated")
        PAUSED = "paused", _("Paused")
        RESUMED = "resumed", _("Resumed")
        SKIPPED = "skipped", _("Cycle skipped")
        UNSKIPPED = "unskipped", _("Skip withdrawn")
        NEXT_DATE_MOVED = "next_date_moved", _("Next charge date moved")
        SCHEDULE_CHANGED = "schedule_changed", _("Schedule changed")
        ITEMS_CHANGED = "items_changed", _("Items changed")
        CANCEL_SCHEDULED = "cancel_scheduled", _("Cancellation at period end scheduled")
        CANCEL_WITHDRAWN = "cancel_withdrawn", _("Cancellation withdrawn")
        CANCELED = "canceled", pgettext_lazy("subscription", "Canceled")
        EXPIRED = "expired", _("Expired")
        PAST_DUE = "past_due", _("Past due")
        RECOVERED = "recovered", _("Recovered")
        RENEWED = "renewed", _("Renewed")
        CHARGE_PAID = "charge_paid", _("Charge paid")
        CHARGE_FAILED = "charge_failed", _("Charge failed")
        ADDRESS_CHANGED = "address_changed", _("Shipping address changed")
        CHARGE_REFUNDED = "charge_refunded", _("Refund recorded")
        CREDIT_GRANTED = "credit_granted", _("Credit granted")
        UPDATED = "updated", _("Updated from the shop")

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("subscription"),
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    from_status = models.CharField(
        _("from status"), max_length=16, choices=Subscription.Status.choices, blank=True
    )
    to_status = models.CharField(
        _("to status"), max_length=16, choices=Subscription.Status.choices, blank=True
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        # No time here: it would be UTC, where pages show the organization's time.
        return str(self.get_kind_display())


class SubscriptionNote(StaffNote, TenantModel):
    """A staff note on one subscription ("gift until June, then to her sister's address")."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="notes", verbose_name=_("subscription")
    )

    class Meta:
        verbose_name = _("staff note")
        verbose_name_plural = _("staff notes")
        ordering = ["-created_at", "-id"]
