"""Satisfaction surveys: how did the box land?

`SatisfactionConfig` holds an organization's rules (on or off, the delay after
delivery, the cooling period between two surveys to the same customer, how long
a survey stays open) and its texts in each language; a blank text means the
product's own wording, translated. A `SatisfactionSurvey` asks about one
delivered shipment; its status is a django-fsm-2 machine:

    scheduled -> sent -> answered     (answering again updates the answer until expiry)
    scheduled -> canceled             (the subscription ended, an after-sales case opened...)
    sent -> expired                   (no answer in time)

`satisfaction.services` schedules, sends, answers and expires them;
`satisfaction.selectors` computes the Net Promoter Score from the answers.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from core import clock
from crm.models import Organization, TenantModel
from satisfaction.nps import PASSIVE_MIN, PROMOTER_MIN
from satisfaction.texts import email_text_problems


def new_token() -> str:
    """256 random bits, URL-safe: the survey's link is its only key."""
    return secrets.token_urlsafe(32)


class ScoreBand(models.TextChoices):
    PROMOTER = "promoter", _("Promoter (9-10)")
    PASSIVE = "passive", _("Passive (7-8)")
    DETRACTOR = "detractor", _("Detractor (0-6)")


def score_band(score: int | None) -> str | None:
    if score is None:
        return None
    if score >= PROMOTER_MIN:
        return ScoreBand.PROMOTER
    if score >= PASSIVE_MIN:
        return ScoreBand.PASSIVE
    return ScoreBand.DETRACTOR


class CancelReason(models.TextChoices):
    """Why a survey was not sent (a code: shown in the reader's language)."""

    TURNED_OFF = "turned_off", _("Surveys were turned off")
    SUBSCRIPTION_ENDED = "subscription_ended", _("The subscription ended")
    AFTER_SALES = "after_sales", _("An after-sales case was opened")
    OPTED_OUT = "opted_out", _("The customer asked for no more surveys")
    TOO_LATE = "too_late", _("Not sent in time")
    EMAIL_FAILED = "email_failed", _("The e-mail could not be sent")
    BY_HAND = "by_hand", _("Canceled by staff or the API")


class SatisfactionConfig(models.Model):
    """An organization's survey rules and texts."""

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="satisfaction_config",
        verbose_name=_("organization"),
    )
    enabled = models.BooleanField(
        _("send surveys"),
        default=False,
        help_text=_(
            "Off until an administrator turns it on: customers receive nothing before. "
            "Only deliveries from the last week are surveyed when it is turned on."
        ),
    )
    delay_days = models.PositiveSmallIntegerField(
        _("delay after delivery (days)"),
        default=3,
        validators=[MaxValueValidator(60)],
        help_text=_("The survey is sent this many days after the delivery."),
    )
    cooling_days = models.PositiveSmallIntegerField(
        _("cooling period (days)"),
        default=30,
        validators=[MaxValueValidator(365)],
        help_text=_("At most one survey per customer in this many days."),
    )
    expiry_days = models.PositiveSmallIntegerField(
        _("open for (days)"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_(
            "A survey can be answered (and the answer changed) this many days after it is sent."
        ),
    )
    from_email = models.EmailField(
        _("sender address"),
        blank=True,
        help_text=_("Blank: the install's default sender."),
    )
    question_en = models.CharField(_("question (English)"), max_length=300, blank=True)
    question_fr = models.CharField(_("question (French)"), max_length=300, blank=True)
    email_subject_en = models.CharField(_("e-mail subject (English)"), max_length=200, blank=True)
    email_subject_fr = models.CharField(_("e-mail subject (French)"), max_length=200, blank=True)
    email_body_en = models.TextField(_("e-mail text (English)"), blank=True)
    email_body_fr = models.TextField(_("e-mail text (French)"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    #: The per-language texts, by kind: blank means the product's default wording.
    TEXT_FIELDS = {
        "question": ("question_en", "question_fr"),
        "email_subject": ("email_subject_en", "email_subject_fr"),
        "email_body": ("email_body_en", "email_body_fr"),
    }

    class Meta:
        verbose_name = _("satisfaction settings")
        verbose_name_plural = _("satisfaction settings")

    def __str__(self) -> str:
        return str(self.organization)

    def clean(self) -> None:
        errors = {}
        for kind, fields in self.TEXT_FIELDS.items():
            for field in fields:
                problems = email_text_problems(
                    getattr(self, field), needs_link=kind == "email_body"
                )
                if problems:
                    errors[field] = problems
        if errors:
            raise ValidationError(errors)

    def text(self, kind: str, language: str) -> str:
        """The organization's own text of `kind` in `language`, or "" for the default."""
        field = f"{kind}_{language.split('-')[0]}"
        return getattr(self, field, "") if field in self.TEXT_FIELDS[kind] else ""


class SurveyOptOut(TenantModel):
    """A customer who asked to receive no more surveys (from the link in a survey e-mail)."""

    customer = models.OneToOneField(
        "crm.Customer",
        on_delete=models.CASCADE,
        related_name="survey_opt_out",
        verbose_name=_("customer"),
    )
    created_at = models.DateTimeField(_("asked at"), default=timezone.now)

    class Meta:
        verbose_name = _("survey opt-out")
        verbose_name_plural = _("survey opt-outs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return str(self.customer)


class SatisfactionSurvey(ConcurrentTransitionMixin, TenantModel):
    """One survey about one delivered shipment."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        ANSWERED = "answered", _("Answered")
        EXPIRED = "expired", pgettext_lazy("survey", "Expired")
        CANCELED = "canceled", pgettext_lazy("survey", "Canceled")

    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        related_name="satisfaction_surveys",
        verbose_name=_("customer"),
    )
    shipment = models.OneToOneField(
        "fulfillment.Shipment",
        on_delete=models.PROTECT,
        related_name="satisfaction_survey",
        verbose_name=_("shipment"),
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        on_delete=models.PROTECT,
        related_name="satisfaction_surveys",
        verbose_name=_("subscription"),
    )
    token = models.CharField(
        _("token"), max_length=64, unique=True, default=new_token, editable=False
    )
    status = FSMField(
        _("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED, protected=True
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    score = models.PositiveSmallIntegerField(
        _("score"), null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    comment = models.TextField(_("comment"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"))
    send_at = models.DateTimeField(_("to send at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("open until"), null=True, blank=True)
    answered_at = models.DateTimeField(
        _("answered at"), null=True, blank=True, help_text=_("The first answer's time.")
    )
    answer_changed_at = models.DateTimeField(_("answer changed at"), null=True, blank=True)
    cancel_reason = models.CharField(
        _("not sent because"), max_length=20, choices=CancelReason.choices, blank=True
    )
    canceled_note = models.CharField(_("cancellation note"), max_length=200, blank=True)
    send_attempts = models.PositiveSmallIntegerField(_("sending attempts"), default=0)
    last_error = models.CharField(_("last sending error"), max_length=500, blank=True)
    return_request = models.ForeignKey(
        "returns.ReturnRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("after-sales case"),
    )
    followed_up_at = models.DateTimeField(_("followed up at"), null=True, blank=True)
    followed_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("followed up by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        ordering = ["-send_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "answered_at"], name="survey_org_answered"),
            models.Index(fields=["organization", "sent_at"], name="survey_org_sent"),
            models.Index(fields=["customer", "send_at"], name="survey_customer_send"),
            models.Index(
                fields=["send_at"], name="survey_due", condition=models.Q(status="scheduled")
            ),
            models.Index(
                fields=["expires_at"], name="survey_open", condition=models.Q(status="sent")
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__lte=10),
                name="survey_score_0_10",
            ),
        ]

    #: A detractor's comment nobody followed up yet, as a filter (`needs_follow_up` in SQL).
    TO_FOLLOW_UP = ~models.Q(comment="") & models.Q(
        status=Status.ANSWERED, score__lt=PASSIVE_MIN, followed_up_at__isnull=True
    )

    def __str__(self) -> str:
        return (
            str(_("Survey %(number)s") % {"number": self.pk}) if self.pk else str(_("New survey"))
        )

    @property
    def band(self) -> str | None:
        return score_band(self.score)

    @property
    def canceled_reason(self) -> str:
        """Why it was not sent, in the active language, with the note if any."""
        if not self.cancel_reason:
            return ""
        label = str(self.get_cancel_reason_display())
        return f"{label}: {self.canceled_note}" if self.canceled_note else label

    @property
    def needs_follow_up(self) -> bool:
        """A detractor who said why, not yet followed up."""
        return (
            self.band == ScoreBand.DETRACTOR
            and bool(self.comment.strip())
            and self.followed_up_at is None
        )

    def is_open(self, now: datetime | None = None) -> bool:
        """Whether the customer may (still) answer."""
        return (
            self.status in (self.Status.SENT, self.Status.ANSWERED)
            and self.expires_at is not None
            and (now or clock.now()) < self.expires_at
        )

    # --- Transitions (status only; see services for the rest) --------------

    @transition(field=status, source=Status.SCHEDULED, target=Status.SENT)
    def send(self):
        """The e-mail left."""

    @transition(field=status, source=[Status.SENT, Status.ANSWERED], target=Status.ANSWERED)
    def answer(self):
        """The customer gave a score (again)."""

    @transition(field=status, source=Status.SENT, target=Status.EXPIRED)
    def expire(self):
        """Nobody answered in time."""

    @transition(field=status, source=Status.SCHEDULED, target=Status.CANCELED)
    def cancel(self):
        """Not to be sent after all."""
