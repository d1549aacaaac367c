"""Writes of satisfaction surveys: schedule, send, answer, expire, follow up.

Beat runs the first three for every organization whose surveys are on
(`satisfaction.tasks`); each is idempotent and safe on several processes:

- `surveys_schedule` creates one survey per delivered shipment once the delay
  after delivery has passed, unless the customer had a survey within the
  cooling period, their subscription ended, the box is the subject of an
  after-sales case, or one of their cases is still open. A shipment has at
  most one survey (a unique row); a skipped delivery simply gets none.
- `surveys_send_due` e-mails each scheduled survey through Django's e-mail
  backend, in the customer's language, after checking those rules again (a
  case may have opened meanwhile); a failing mail server leaves it scheduled
  for the next run, five failures cancel it.
- `surveys_expire` closes sent surveys nobody answered in time.

`survey_answer` is what the public page calls with the link's token: a score
from 0 to 10 and a comment, changed as often as the customer likes until the
survey closes. Staff follow up a detractor's comment by opening an after-sales
case from it (`survey_open_case`) or by marking it followed up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import can_proceed

from core import clock
from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from core.locks import lock_row, save_transition
from crm.models import Customer, CustomerEmail, Organization
from crm.services import customer_email_record
from fulfillment.models import Shipment
from returns.models import ReturnReason, ReturnRequest
from returns.services import return_config_ensure, return_open
from satisfaction.models import CancelReason, SatisfactionConfig, SatisfactionSurvey, SurveyOptOut
from satisfaction.texts import fill_placeholders
from subscriptions.models import Subscription

logger = logging.getLogger(__name__)

Status = SatisfactionSurvey.Status

#: Deliveries whose survey fell due longer ago than this are never surveyed
#: (turning surveys on must not mail everyone about last year's boxes).
LOOKBACK = timedelta(days=7)
#: A survey still unsent this long after it fell due is canceled.
SEND_DEADLINE = timedelta(days=7)
#: Failed attempts to mail a survey before it is canceled.
MAX_SEND_ATTEMPTS = 5
#: The longest comment kept.
COMMENT_MAX_LENGTH = 2000

ENDED_SUBSCRIPTION = (Subscription.Status.CANCELED, Subscription.Status.EXPIRED)


class SurveyNotFound(ApplicationError):
    """No survey has this token (or it was never sent)."""

    status = 404


class SurveyClosed(ConflictError):
    """The survey expired or was canceled: the answer is refused."""


class SurveyAnswered(ConflictError):
    """The portal answers pending surveys only: this one has its answer already."""


# --- Settings and texts ------------------------------------------------------------


def satisfaction_config_ensure(*, organization: Organization) -> SatisfactionConfig:
    config, _created = SatisfactionConfig.objects.get_or_create(organization=organization)
    return config


#: What an organization's administrators choose: the rules, the sender and the texts.
SETTINGS_FIELDS = (
    "enabled",
    "delay_days",
    "cooling_days",
    "expiry_days",
    "from_email",
    *(field for fields in SatisfactionConfig.TEXT_FIELDS.values() for field in fields),
)


@transaction.atomic
def satisfaction_config_update(*, organization: Organization, **values) -> SatisfactionConfig:
    """Set the organization's survey rules and texts (`SETTINGS_FIELDS`), its row created the
    first time. A text the model refuses (an unknown placeholder, an e-mail without {link})
    is refused on its field, and nothing is written."""
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Not a satisfaction setting: {', '.join(sorted(unknown))}")
    config, _created = SatisfactionConfig.objects.select_for_update().get_or_create(
        organization=organization
    )
    for name, value in values.items():
        setattr(config, name, value)
    try:
        config.full_clean(exclude=["organization"])
    except ValidationError as error:
        raise ApplicationError(_("Invalid input."), {"fields": error.message_dict}) from error
    config.save()
    return config


def satisfaction_configs_ensure(*, organization_ids) -> None:
    """Settings for those of the organizations that have none yet."""
    missing = Organization.objects.filter(
        pk__in=organization_ids, satisfaction_config__isnull=True
    ).order_by("pk")
    for organization in missing:
        satisfaction_config_ensure(organization=organization)


def default_question(organization: Organization) -> str:
    return _("How likely are you to recommend %(organization)s to a friend or colleague?") % {
        "organization": organization.name
    }


def survey_question(survey: SatisfactionSurvey, config: SatisfactionConfig | None = None) -> str:
    """The question, in the active language (the organization's own text if it wrote one)."""
    config = config or satisfaction_config_ensure(organization=survey.organization)
    own = config.text("question", translation.get_language() or survey.language)
    return fill_placeholders(own, _values(survey)) if own else default_question(survey.organization)


def survey_url(survey: SatisfactionSurvey) -> str:
    return settings.SITE_URL + reverse("satisfaction:survey", args=[survey.token])


def opt_out_url(survey: SatisfactionSurvey) -> str:
    return settings.SITE_URL + reverse("satisfaction:opt-out", args=[survey.token])


def _values(survey: SatisfactionSurvey) -> dict[str, str]:
    return {
        "first_name": survey.customer.first_name.strip(),
        "organization": survey.organization.name,
        "link": survey_url(survey),
    }


def survey_email(survey: SatisfactionSurvey, config: SatisfactionConfig) -> EmailMultiAlternatives:
    """The survey's e-mail in the customer's language: text, and HTML with 0-10 buttons."""
    values = _values(survey)
    with translation.override(survey.language):
        subject = config.text("email_subject", survey.language) or _(
            "How was your box from {organization}?"
        )
        body = config.text("email_body", survey.language) or _(
            "Hello {first_name},\n\n"
            "Your box from {organization} arrived a few days ago. How did it go? "
            "One click is enough to tell us:\n\n{link}\n\n"
            "Thank you, it helps us a lot."
        )
        text = fill_placeholders(body, values)
        footer = _("No more surveys from %(organization)s? %(url)s") % {
            "organization": survey.organization.name,
            "url": opt_out_url(survey),
        }
        context = {
            "survey": survey,
            "question": survey_question(survey, config),
            "paragraphs": [part.strip() for part in text.split("\n\n") if part.strip()],
            "link": values["link"],
            "scores": [(score, f"{values['link']}?score={score}") for score in range(11)],
            "organization": survey.organization,
            "language": survey.language,
            "opt_out_url": opt_out_url(survey),
        }
        html = render_to_string("satisfaction/email.html", context)
        subject = fill_placeholders(subject, values).replace("\n", " ").strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=f"{text}\n\n-- \n{footer}",
        from_email=config.from_email or settings.DEFAULT_FROM_EMAIL,
        to=[survey.customer.email],
        headers={
            "Auto-Submitted": "auto-generated",
            # One-click unsubscribe (RFC 8058): mail clients POST to the link.
            "List-Unsubscribe": f"<{opt_out_url(survey)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


# --- Scheduling ------------------------------------------------------------------------


def _open_case_customers(organization: Organization) -> set[int]:
    return set(
        ReturnRequest.objects.filter(
            organization=organization, status__in=ReturnRequest.OPEN
        ).values_list("customer_id", flat=True)
    )


def _language(customer_language: str, organization: Organization) -> str:
    languages = {code for code, _name in settings.LANGUAGES}
    for language in (customer_language, organization.language, settings.LANGUAGE_CODE):
        if language and language.split("-")[0] in languages:
            return language.split("-")[0]
    return "en"


@transaction.atomic
def surveys_schedule_for(*, organization: Organization, now: datetime | None = None) -> int:
    """Create the surveys due for the organization's deliveries; returns how many."""
    now = now or clock.now()
    config = (
        SatisfactionConfig.objects.select_for_update()  # one scheduler per organization at a time
        .filter(organization=organization, enabled=True)
        .first()
    )
    if config is None:
        return 0
    delay = timedelta(days=config.delay_days)
    cooling = timedelta(days=config.cooling_days)
    candidates = list(
        Shipment.objects.filter(
            organization=organization,
            status=Shipment.Status.DELIVERED,
            delivered_at__lte=now - delay,
            delivered_at__gt=now - delay - LOOKBACK,
            satisfaction_survey__isnull=True,
            return_requests__isnull=True,
            customer__survey_opt_out__isnull=True,
        )
        .exclude(line__subscription__status__in=ENDED_SUBSCRIPTION)
        .select_related("customer", "line")
        .order_by("delivered_at", "pk")
    )
    if not candidates:
        return 0
    busy = _open_case_customers(organization)
    last_survey = dict(
        SatisfactionSurvey.objects.filter(
            customer_id__in={shipment.customer_id for shipment in candidates}
        )
        .exclude(status=Status.CANCELED)
        .values("customer_id")
        .annotate(last=Max("send_at"))
        .values_list("customer_id", "last")
    )
    surveys = []
    for shipment in candidates:
        send_at = shipment.delivered_at + delay
        last = last_survey.get(shipment.customer_id)
        if shipment.customer_id in busy or (last is not None and send_at < last + cooling):
            continue
        last_survey[shipment.customer_id] = send_at
        surveys.append(
            SatisfactionSurvey(
                organization=organization,
                customer=shipment.customer,
                shipment=shipment,
                subscription_id=shipment.line.subscription_id,
                language=_language(shipment.customer.language, organization),
                delivered_at=shipment.delivered_at,
                send_at=send_at,
                created_at=now,
            )
        )
    # A survey another process made meanwhile for the same shipment wins.
    created = SatisfactionSurvey.objects.bulk_create(surveys, ignore_conflicts=True)
    return len(created)


def surveys_schedule(*, now: datetime | None = None) -> dict[int, int]:
    """Schedule the due surveys of every organization whose surveys are on."""
    now = now or clock.now()
    result = {}
    for organization in Organization.objects.filter(satisfaction_config__enabled=True):
        result[organization.pk] = surveys_schedule_for(organization=organization, now=now)
    return result


# --- Sending ---------------------------------------------------------------------------


def _why_not_send(survey: SatisfactionSurvey, config: SatisfactionConfig, now: datetime) -> str:
    """Why a scheduled survey must not go out after all (a `CancelReason`; "" if it may)."""
    if not config.enabled:
        return CancelReason.TURNED_OFF
    if survey.subscription.status in ENDED_SUBSCRIPTION:
        return CancelReason.SUBSCRIPTION_ENDED
    if SurveyOptOut.objects.filter(customer_id=survey.customer_id).exists():
        return CancelReason.OPTED_OUT
    if ReturnRequest.objects.filter(
        Q(shipment_id=survey.shipment_id)
        | Q(customer_id=survey.customer_id, status__in=ReturnRequest.OPEN)
    ).exists():
        return CancelReason.AFTER_SALES
    if survey.send_at < now - SEND_DEADLINE:
        return CancelReason.TOO_LATE
    return ""


def _cancel(survey: SatisfactionSurvey, reason: str, note: str = "") -> None:
    survey.cancel()
    survey.cancel_reason = reason
    survey.canceled_note = note[:200]
    _save(survey)


def _save(survey: SatisfactionSurvey) -> None:
    save_transition(survey, changed=gettext_lazy("The survey changed meanwhile; try again."))


def _record_email(survey, message, now: datetime, *, error: str = "") -> None:
    """The customer's page lists the e-mails sent to them (and those that failed)."""
    customer_email_record(
        customer=survey.customer,
        kind=CustomerEmail.Kind.SURVEY,
        to=", ".join(message.to),
        subject=str(message.subject),
        sent_at=now,
        error=error,
    )


def survey_send(*, survey_id: int, now: datetime | None = None) -> str:
    """Send one scheduled survey; returns its status afterwards ("" if it was not scheduled)."""
    now = now or clock.now()
    with transaction.atomic():
        survey = (
            SatisfactionSurvey.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("organization", "customer", "subscription")
            .filter(pk=survey_id, status=Status.SCHEDULED, send_at__lte=now)
            .first()
        )
        if survey is None:  # sent, canceled, not due, or being sent by another process
            return ""
        config = satisfaction_config_ensure(organization=survey.organization)
        reason = _why_not_send(survey, config, now)
        if reason:
            _cancel(survey, reason)
            return survey.status
        message = survey_email(survey, config)
        try:
            message.send(fail_silently=False)
        except Exception as exc:  # the mail server's failure, whatever its type
            logger.warning("Survey %s not sent: %s", survey.pk, exc)
            survey.send_attempts += 1
            survey.last_error = f"{type(exc).__name__}: {exc}"[:500]
            _record_email(survey, message, now, error=survey.last_error)
            if survey.send_attempts >= MAX_SEND_ATTEMPTS:
                _cancel(survey, CancelReason.EMAIL_FAILED)
            else:
                _save(survey)
            return survey.status
        survey.send()
        _record_email(survey, message, now)
        survey.send_attempts += 1
        survey.last_error = ""
        survey.sent_at = now
        survey.expires_at = now + timedelta(days=config.expiry_days)
        _save(survey)
        return survey.status


def surveys_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send up to `limit` scheduled surveys whose time came; returns how many were sent."""
    now = now or clock.now()
    due = list(
        SatisfactionSurvey.objects.filter(status=Status.SCHEDULED, send_at__lte=now)
        .order_by("send_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(survey_send(survey_id=pk, now=now) == Status.SENT for pk in due)


def surveys_expire(*, now: datetime | None = None) -> int:
    """Close the sent surveys nobody answered in time; returns how many."""
    now = now or clock.now()
    return SatisfactionSurvey.objects.filter(status=Status.SENT, expires_at__lte=now).update(
        status=Status.EXPIRED, updated_at=now
    )


# --- Answering ---------------------------------------------------------------------------


def _score(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
        raise ApplicationError(
            _("Invalid input."), {"fields": {"score": [_("Pick a score from 0 to 10.")]}}
        )
    return value


def survey_for_token(token: str) -> SatisfactionSurvey:
    """The sent (or answered, expired...) survey of a link; unknown and unsent ones: 404."""
    survey = (
        SatisfactionSurvey.objects.select_related("organization", "customer")
        .exclude(status=Status.SCHEDULED)
        .filter(token=token)
        .first()
        if isinstance(token, str) and 0 < len(token) <= 64
        else None
    )
    if survey is None:
        raise SurveyNotFound(_("This survey link is not valid."))
    return survey


@transaction.atomic
def survey_answer(
    *,
    token: str,
    score: Any,
    comment: str = "",
    customer: Customer | None = None,
    first_answer_only: bool = False,
    now: datetime | None = None,
) -> SatisfactionSurvey:
    """Record (or change) the customer's answer; refused once the survey closed.

    The e-mail's page passes the link's token only. The portal also passes its signed-in
    `customer` (another customer's survey reads as unknown) and `first_answer_only`: it
    offers pending surveys only, so a survey answered already is refused (409), checked
    under the row's lock.
    """
    now = now or clock.now()
    score = _score(score)
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ApplicationError(
            _("Invalid input."),
            {
                "fields": {
                    "comment": [
                        _("Keep it under %(count)s characters, please.")
                        % {"count": COMMENT_MAX_LENGTH}
                    ]
                }
            },
        )
    survey = survey_for_token(token)
    if customer is not None and survey.customer_id != customer.pk:
        raise SurveyNotFound(_("This survey link is not valid."))
    survey = _lock(survey)
    if first_answer_only and survey.status == Status.ANSWERED:
        raise SurveyAnswered(
            _("You already answered this survey on %(date)s. Thank you!")
            % {
                "date": formats.date_format(
                    survey.answered_at.astimezone(survey.organization.tzinfo)
                )
            },
            {"status": survey.status},
        )
    if not survey.is_open(now):
        raise SurveyClosed(_("This survey is closed."), {"status": survey.status})
    survey.answer()
    survey.score = score
    survey.comment = comment
    if survey.answered_at is None:
        survey.answered_at = now
    else:
        survey.answer_changed_at = now
    _save(survey)
    return survey


@transaction.atomic
def customers_opt_in(*, opt_outs: Iterable[SurveyOptOut]) -> int:
    """The customers of these opt-outs receive surveys again (from the next one scheduled);
    how many opt-outs were removed."""
    ids = [opt_out.pk for opt_out in opt_outs]
    removed, _by_model = SurveyOptOut.objects.filter(pk__in=ids).delete()
    return removed


@transaction.atomic
def customer_opt_out(*, customer: Customer, now: datetime | None = None) -> SurveyOptOut:
    """The customer receives no more surveys (idempotent): staff on the phone, or the link.

    Their surveys not sent yet are canceled; an open one can still be answered.
    """
    opt_out, _created = SurveyOptOut.objects.get_or_create(
        customer_id=customer.pk,
        defaults={"organization_id": customer.organization_id, "created_at": now or clock.now()},
    )
    for pending in SatisfactionSurvey.objects.select_for_update(of=("self",)).filter(
        customer_id=customer.pk, status=Status.SCHEDULED
    ):
        _cancel(pending, CancelReason.OPTED_OUT)
    return opt_out


def survey_opt_out(*, token: str, now: datetime | None = None) -> SurveyOptOut:
    """The opt-out link of a survey e-mail: its customer receives no more surveys."""
    return customer_opt_out(customer=survey_for_token(token).customer, now=now)


# --- Staff -------------------------------------------------------------------------------


def _lock(survey: SatisfactionSurvey | int) -> SatisfactionSurvey:
    return lock_row(SatisfactionSurvey.objects.select_related("organization", "customer"), survey)


@transaction.atomic
def survey_cancel(
    *, survey: SatisfactionSurvey, actor: Actor, reason: str = ""
) -> SatisfactionSurvey:
    """Staff decide a scheduled survey is not to be sent."""
    survey = _lock(survey)
    if not can_proceed(survey.cancel):
        raise ConflictError(
            _("Only a survey not sent yet can be canceled; this one is %(status)s.")
            % {"status": survey.get_status_display().lower()},
            {"status": survey.status},
        )
    _cancel(survey, CancelReason.BY_HAND, (reason or "").strip() or actor.label)
    return survey


def survey_may_open_case(survey: SatisfactionSurvey) -> bool:
    """Whether `survey_open_case` would open a case from it now: answered, none opened."""
    return survey.status == Status.ANSWERED and not survey.return_request_id


def survey_may_mark_followed_up(survey: SatisfactionSurvey) -> bool:
    """Whether marking it followed up would change it: answered, not followed up yet."""
    return survey.status == Status.ANSWERED and survey.followed_up_at is None


def _may_follow_up(survey: SatisfactionSurvey) -> None:
    if survey.status != Status.ANSWERED:
        raise ConflictError(
            _("Only an answered survey can be followed up."), {"status": survey.status}
        )


@transaction.atomic
def survey_mark_followed_up(
    *, survey: SatisfactionSurvey, actor: Actor, now: datetime | None = None
) -> SatisfactionSurvey:
    """Someone took care of this answer (called the customer, wrote back...)."""
    survey = _lock(survey)
    _may_follow_up(survey)
    if survey.followed_up_at is None:
        survey.followed_up_at = now or clock.now()
        survey.followed_up_by = actor.user if actor.kind == ActorKind.USER else None
        _save(survey)
    return survey


def _case_reason(organization: Organization) -> ReturnReason:
    return_config_ensure(organization=organization)
    reasons = ReturnReason.objects.filter(organization=organization, active=True)
    reason = reasons.filter(code="other").first() or reasons.order_by("position", "pk").first()
    if reason is None:
        raise ApplicationError(
            _("The organization has no active return reason: add one in the return settings.")
        )
    return reason


@transaction.atomic
def survey_open_case(
    *, survey: SatisfactionSurvey, actor: Actor, now: datetime | None = None
) -> ReturnRequest:
    """Open an after-sales case about the surveyed box from the customer's answer.

    The case's description quotes the score and comment; it is accepted outside
    the return window (the survey came after it, by design) with that reason.
    The survey is marked followed up and linked to the case.
    """
    now = now or clock.now()
    survey = _lock(survey)
    _may_follow_up(survey)
    if survey.return_request_id:
        raise ConflictError(
            _("Case %(number)s was already opened from this survey.")
            % {"number": survey.return_request_id},
            {"case": survey.return_request_id},
        )
    description = _("Satisfaction survey %(number)s: %(score)s/10.") % {
        "number": survey.pk,
        "score": survey.score,
    }
    if survey.comment:
        description += "\n" + _("The customer wrote: %(comment)s") % {"comment": survey.comment}
    case = return_open(
        organization=survey.organization,
        shipment=survey.shipment_id,
        reason=_case_reason(survey.organization),
        actor=actor,
        description=description,
        override_reason=_("Opened from satisfaction survey %(number)s.") % {"number": survey.pk},
        now=now,
    )
    survey.return_request = case
    if survey.followed_up_at is None:
        survey.followed_up_at = now
        survey.followed_up_by = actor.user if actor.kind == ActorKind.USER else None
    _save(survey)
    return case
