"""Demo satisfaction surveys for `manage.py load_demo`: Purea Café's last twelve weeks of answers.

Surveys are turned on for the organization (three days after delivery, open 14
days; one survey per customer per 14 days rather than 30, as a small roaster
with weekly boxes would) and beat is replayed day by day over the last twelve
weeks, through the services with the clock passed explicitly: each delivered
box is surveyed, e-mailed (to a backend that keeps nothing: those e-mails left
weeks ago), and most are answered a few hours later, in French, mostly by
promoters (an NPS around +30). Staff held one survey back before it left, one
was never answered and expired, and the latest ones still wait for an answer.
The answers begin when the demo's subscriptions do, some ten weeks ago.

The demo's batches begin three weeks ago: the boxes of the weeks before, back
to twelve weeks, are shipped here from the cycles the subscriptions' demo
already charged. No service opens a batch in the past (they open the next one
only), so each of those batches is the one row written directly, as locked at
its cut-off; its lines, packing, dispatch and deliveries go through the
fulfillment services.

`load` runs before the after-sales demo (the customers had no open case back
then, and the scheduler skips customers with one); `follow_up`, after it:
staff open an after-sales case from one detractor's comment (settled since),
call another back, and leave the latest detractor's comment to follow up.
The boxes carry the preferences in force at their cut-off: the preferences'
demo dates its history in the past, before the weeks are replayed here.

Idempotent: an organization that has surveys already gets none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.test.utils import override_settings
from django.utils import timezone

from core.actors import Actor
from core.errors import ConflictError
from core.periods import local_midnight, today_in
from crm.models import Organization
from dashboard.demo import fulfillment as fulfillment_demo
from fulfillment import services as fulfillment
from fulfillment.calendar import cutoff_on, cycle_date
from fulfillment.models import Batch, BatchLine
from fulfillment.selectors import fulfillment_settings_for
from fulfillment.snapshots import boxes_at, due_cycles
from returns import services as returns
from returns.models import ReturnRequest
from satisfaction import services
from satisfaction.models import SatisfactionSurvey
from satisfaction.nps import nps_of

Status = SatisfactionSurvey.Status

HISTORY = timedelta(weeks=12)
#: Beat's passes replayed once a day at this local time (it runs every few minutes).
PASS_AT = time(10, 0)
#: The surveys "left" weeks ago: nothing is printed or sent now.
NO_MAIL = "django.core.mail.backends.dummy.EmailBackend"
#: A small roaster with weekly boxes asks every other week or so (the default is 30 days).
COOLING_DAYS = 14
#: The most recent surveys still waiting for their answer.
WAITING = 2
#: The latest answer came in at most this long before the demo was loaded (today, always).
FRESHEST = timedelta(hours=2)
#: Staff held back the fourth survey due (the customer was on the phone with them anyway).
CANCELED_ONE = 4

# (score, comment, hours after the e-mail): 5 promoters, 3 passives and 2 detractors in
# each ten, so any long enough run of answers has an NPS around +30.
ANSWERS = (
    (9, "Toujours aussi bon, l'Éthiopie est parfaite en filtre.", 3),
    (10, "Livraison rapide et café fraîchement torréfié, merci !", 1),
    (7, "", 26),
    (4, "Torréfaction trop amère à mon goût cette fois-ci.", 5),
    (9, "", 8),
    (8, "Bon café, mais j'aimerais pouvoir choisir une mouture plus fine.", 30),
    (10, "La découverte du mois est toujours une belle surprise.", 2),
    (3, "Le sachet est arrivé déchiré, du café partout dans le carton.", 4),
    (9, "Très pratique, je ne manque plus jamais de café.", 20),
    (7, "Bien, mais un peu cher pour 250 g.", 6),
    (10, "Le meilleur espresso que j'aie réussi à la maison.", 2),
    (8, "", 40),
    (2, "Colis livré avec trois jours de retard, carton abîmé.", 3),
    (9, "Service client très réactif, merci Marie.", 9),
    (9, "", 12),
    (5, "", 50),
    (10, "Les notes de dégustation sur le sachet sont un vrai plus.", 4),
    (7, "Correct, mais le décaféiné manque un peu de corps.", 22),
    (9, "Parfait pour le bureau, tout le monde en redemande.", 5),
    (10, "", 1),
)
CANCEL_REASON = "Client déjà au téléphone avec nous cette semaine : pas de questionnaire."
CASE_NOTE = (
    "Appelé le client : conseils d'extraction (eau à 92 °C, mouture un peu plus grosse). "
    "Il réessaie avant de changer d'origine, rien à rembourser."
)


@dataclass
class Result:
    """What `load` made, for `follow_up` and the summary line."""

    surveys: int = 0
    answered: int = 0
    waiting: int = 0
    expired: int = 0
    canceled: int = 0
    boxes: int = 0
    nps: float | None = None
    weeks: int = 0  # from the first e-mail to now
    to_follow_up: int = 0
    survey_ids: list[int] = field(default_factory=list)


def load(*, organization: Organization, staff) -> Result:
    """Turn surveys on and replay the last twelve weeks; nothing if the organization has surveys."""
    if SatisfactionSurvey.objects.filter(organization=organization).exists():
        return Result()
    actor = Actor.for_user(staff) if staff else Actor.system("demo")
    now = timezone.now()
    config = services.satisfaction_config_ensure(organization=organization)
    config.enabled = True
    config.cooling_days = COOLING_DAYS
    config.save(update_fields=["enabled", "cooling_days", "updated_at"])
    result = Result(boxes=_deliver_past_weeks(organization, actor, now))
    with override_settings(EMAIL_BACKEND=NO_MAIL):
        _replay_beat(organization, actor, now)
    _answer(organization, now)
    services.surveys_expire(now=now)
    surveys = SatisfactionSurvey.objects.filter(organization=organization)
    result.survey_ids = list(surveys.values_list("pk", flat=True))
    result.surveys = len(result.survey_ids)
    result.answered = surveys.filter(status=Status.ANSWERED).count()
    result.waiting = surveys.filter(status=Status.SENT).count()
    result.expired = surveys.filter(status=Status.EXPIRED).count()
    result.canceled = surveys.filter(status=Status.CANCELED).count()
    first_sent = surveys.exclude(sent_at=None).order_by("sent_at").values_list("sent_at").first()
    result.weeks = -(-(now - first_sent[0]).days // 7) if first_sent else 0
    return result


def follow_up(*, organization: Organization, staff, result: Result) -> Result:
    """Staff's follow-up of the detractors' comments (after the after-sales demo).

    The oldest comment whose box has no open case gets a case, resolved since;
    the others but the latest are marked followed up (a phone call).
    """
    if not result.survey_ids:
        return result
    actor = Actor.for_user(staff) if staff else Actor.system("demo")
    detractors = list(
        SatisfactionSurvey.objects.filter(
            pk__in=result.survey_ids, status=Status.ANSWERED, score__lte=6
        )
        .exclude(comment="")
        .order_by("answered_at", "pk")
    )
    case_opened = False
    now = timezone.now()
    for survey in detractors[:-1]:
        # The next morning, or a moment ago if the comment came in less than a day ago.
        at = min(survey.answered_at + timedelta(hours=20), now - (now - survey.answered_at) / 2)
        if not case_opened and staff is not None:
            case_opened = _open_case(survey, actor, at)
            if case_opened:
                continue
        services.survey_mark_followed_up(survey=survey, actor=actor, now=at)
    answered = SatisfactionSurvey.objects.filter(pk__in=result.survey_ids, status=Status.ANSWERED)
    result.nps = nps_of(answered.values_list("score", flat=True)).score
    result.to_follow_up = sum(survey.needs_follow_up for survey in answered)
    return result


def summary(organization: Organization, result: Result) -> str:
    nps = "-" if result.nps is None else f"{result.nps:+.0f}"
    return (
        f"Demo satisfaction surveys: {result.surveys} for {organization.name} over "
        f"{result.weeks} weeks ({result.answered} answered, NPS {nps}; {result.waiting} "
        f"waiting for an answer, {result.expired} expired, {result.canceled} canceled), "
        f"{result.to_follow_up} to follow up; {result.boxes} boxes of the weeks before the "
        "batches above delivered for them."
    )


# --- The boxes of the weeks before the demo's batches ----------------------------------


def _deliver_past_weeks(organization: Organization, actor: Actor, now: datetime) -> int:
    """Ship the charged cycles of the weeks before the first batch; returns the boxes delivered."""
    first = Batch.objects.filter(organization=organization).order_by("cutoff_at").first()
    if first is None:
        return 0
    tz = organization.tzinfo
    settings_row = fulfillment_settings_for(organization=organization)
    local = first.starts_at.astimezone(tz)

    def weeks_before(count: int) -> datetime:  # the same wall-clock time, whatever the DST
        return cutoff_on(local.date() - timedelta(weeks=count), local.time(), tz)

    delivered = 0
    weeks = 0
    while weeks_before(weeks + 1) > now - HISTORY:
        weeks += 1
    for count in range(weeks, 0, -1):  # the oldest first, each ending where the next starts
        cutoff = weeks_before(count - 1)
        batch = Batch.objects.create(
            organization=organization,
            cycle_date=cycle_date(cutoff, tz),
            starts_at=weeks_before(count),
            cutoff_at=cutoff,
            ships_on=Batch.ships_on_for(cutoff, settings_row),
            status=Batch.Status.LOCKED,
            locked_at=cutoff,
        )
        delivered += _ship_week(batch, actor)
    return delivered


def _ship_week(batch: Batch, actor: Actor) -> int:
    """What the lock, the packing room and the carrier did that week."""
    cycles = due_cycles(batch=batch)
    boxes = boxes_at(organization=batch.organization, cycles=cycles, at=batch.cutoff_at)
    fulfillment.insert_lines(batch=batch, boxes=boxes, now=batch.cutoff_at)
    fulfillment.lines_payment_refresh(batch=batch)
    # A box unpaid weeks ago never shipped: left out, not carried into this week's batch.
    for line in batch.lines.exclude(status=BatchLine.Status.READY):
        fulfillment.line_exclude(line=line, actor=actor, reason="Non payé à l'expédition.")
    ready = batch.lines.filter(status=BatchLine.Status.READY).values_list("pk", flat=True)
    fulfillment.lines_prepare(organization=batch.organization, line_ids=ready, actor=actor)
    fulfillment_demo.date_week(batch, batch.cutoff_at + timedelta(hours=4))
    shipped_at = batch.cutoff_at + timedelta(days=1)
    fulfillment.batch_dispatch(batch=batch, actor=actor, carrier="Colissimo", now=shipped_at)
    shipments = list(batch.shipments.order_by("id"))
    for shipment in shipments:
        fulfillment.shipment_update(
            shipment=shipment, actor=actor, tracking_number=f"6A{batch.pk:03d}{shipment.pk:07d}"
        )
        fulfillment.shipment_transition(
            shipment=shipment, action="ship", actor=actor, at=shipped_at
        )
        fulfillment.shipment_transition(
            shipment=shipment, action="deliver", actor=actor, at=shipped_at + timedelta(days=2)
        )
    if not shipments:  # nobody's cycle fell that week
        fulfillment.batch_complete(batch=batch, actor=actor, now=shipped_at)
    return len(shipments)


# --- Beat, replayed ------------------------------------------------------------------------


def _replay_beat(organization: Organization, actor: Actor, now: datetime) -> None:
    """Schedule and send the surveys as beat would have, one pass a day; one canceled by staff."""
    tz = organization.tzinfo
    day = (now - HISTORY).astimezone(tz).date()
    handled = 0
    while (at := cutoff_on(day, PASS_AT, tz)) <= now:
        services.surveys_schedule_for(organization=organization, now=at)
        due = SatisfactionSurvey.objects.filter(
            organization=organization, status=Status.SCHEDULED, send_at__lte=at
        ).order_by("send_at", "pk")
        for survey in due:
            handled += 1
            if handled == CANCELED_ONE:
                services.survey_cancel(survey=survey, actor=actor, reason=CANCEL_REASON)
            else:
                services.survey_send(survey_id=survey.pk, now=at)
        day += timedelta(days=1)


def _answer(organization: Organization, now: datetime) -> None:
    """Most customers answer within hours; the latest few not yet, and one never did.

    The latest answer came in today, a little before `now` (`_freshest`): whatever day
    the demo is loaded, this week and this month have an answer.
    """
    sent = list(
        SatisfactionSurvey.objects.filter(organization=organization, status=Status.SENT).order_by(
            "sent_at", "pk"
        )
    )
    still_open = [survey for survey in sent if survey.expires_at > now]
    closed = [survey for survey in sent if survey.expires_at <= now]
    unanswered = {survey.pk for survey in still_open[-WAITING:]}
    if closed:
        unanswered.add(closed[len(closed) // 2].pk)  # never answered: expires
    fresh = _freshest(organization, now)
    latest = next(
        (
            survey
            for survey in reversed(still_open)
            if survey.pk not in unanswered and survey.sent_at < fresh
        ),
        None,
    )
    answers = iter(ANSWERS * (len(sent) // len(ANSWERS) + 1))
    for survey in sent:
        if survey.pk in unanswered:
            continue
        score, comment, hours = next(answers)
        at = fresh if survey is latest else survey.sent_at + timedelta(hours=hours)
        if at >= min(now, survey.expires_at):
            continue  # would answer later: still waiting
        services.survey_answer(token=survey.token, score=score, comment=comment, now=at)


def _freshest(organization: Organization, now: datetime) -> datetime:
    """A moment today, shortly before `now`: when the latest answer came in."""
    tz = organization.tzinfo
    since_midnight = now - local_midnight(today_in(now, tz), tz)
    return now - min(FRESHEST, since_midnight / 2)


def _open_case(survey: SatisfactionSurvey, actor: Actor, at: datetime) -> bool:
    """A case from the survey, settled by a phone call; False if the box has an open case."""
    if ReturnRequest.objects.filter(
        shipment_id=survey.shipment_id, status__in=ReturnRequest.OPEN
    ).exists():
        return False
    try:
        case = services.survey_open_case(survey=survey, actor=actor, now=at)
    except ConflictError:
        return False
    returns.return_approve(case=case, actor=actor, now=at + timedelta(hours=2))
    returns.return_resolve(
        case=case,
        actor=actor,
        resolution=ReturnRequest.Resolution.NONE,
        note=CASE_NOTE,
        now=at + timedelta(hours=3),
    )
    return True
