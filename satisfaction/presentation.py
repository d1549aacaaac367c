"""How the satisfaction figures read on the back office's pages.

Numbers and NPS in the reader's language ("NPS 32 ± 18, 41 answers"), a
score's badge, what was done about an answer, the NPS week by week and the
scores' distribution as inline SVG (drawn by `satisfaction.charts`), and all
the figures of the report. The survey pages (`satisfaction.admin`) and the
dashboard (`dashboard.views`) both show them from here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.periods import local_midnight, today_in, week_start
from crm.models import Organization
from crm.tenant_admin import (
    when,
)
from satisfaction import charts, selectors
from satisfaction.models import SatisfactionSurvey, ScoreBand
from satisfaction.nps import Nps

#: Comments to follow up listed on the report.
REPORT_FOLLOW_UPS = 10


# --- Formatting -------------------------------------------------------------------------


def number(value, decimals: int = 0) -> str:
    """A number in the active language's format ("1 234" in French)."""
    return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)


def whole(value: float) -> Decimal:
    """`value` rounded half away from zero (16.67 -> 17, -12.5 -> -13), never "-0"."""
    rounded = Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return rounded if rounded else Decimal(0)


def nps_number(value: float | None) -> str:
    return "-" if value is None else number(whole(value))


def answers_text(count: int) -> str:
    return ngettext("%(count)s answer", "%(count)s answers", count) % {"count": number(count)}


#: Below this many answers the margin of error (a normal approximation) means nothing: a row
#: of two detractors would read "-100 ± 0".
MIN_ANSWERS_FOR_MARGIN = 5


def nps_headline(nps: Nps) -> str:
    """ "NPS 32 ± 18, 41 answers"."""
    if not nps.answers:
        return _("No answers")
    if nps.answers < MIN_ANSWERS_FOR_MARGIN:
        return _("NPS %(score)s, %(answers)s: too few for a margin of error") % {
            "score": nps_number(nps.score),
            "answers": answers_text(nps.answers),
        }
    return _("NPS %(score)s ± %(margin)s, %(answers)s") % {
        "score": nps_number(nps.score),
        "margin": nps_number(nps.margin),
        "answers": answers_text(nps.answers),
    }


def percent(part: int, total: int) -> str:
    if not total:
        return "-"
    return _("%(percent)s%%") % {"percent": number(whole(100 * part / total))}


def customer_name(customer) -> str:
    return customer.full_name or customer.email


def score_badge(survey: SatisfactionSurvey):
    if survey.score is None:
        return "-"
    band = ScoreBand(survey.band)
    return format_html(
        # Its colours: static/backoffice/admin.css (no style attribute under the CSP).
        '<span class="score-badge band-{}" title="{}">{}</span>',
        band.value,
        band.label,
        survey.score,
    )


def case_url(case_id: int) -> str:
    return reverse("admin:returns_returnrequest_change", args=[case_id])


def follow_up_state(survey: SatisfactionSurvey):
    """What was done about an answer: to follow up, the case opened from it, followed up."""
    if survey.return_request_id:
        return format_html(
            '<a href="{}" class="follow-up-case">{}</a>',
            case_url(survey.return_request_id),
            _("Case %(number)s") % {"number": survey.return_request_id},
        )
    if survey.needs_follow_up:
        return format_html(
            '<strong class="follow-up-todo">{}</strong>',
            _("To follow up"),
        )
    if survey.followed_up_at is not None:
        return format_html('<span class="follow-up-done">{}</span>', _("Followed up"))
    return "-"


# --- The report's figures ---------------------------------------------------------------


def report_period(organization: Organization, weeks: int) -> tuple[datetime, datetime]:
    """The last `weeks` weeks (Monday to Sunday, in the organization's time), this one
    included: from their first Monday to the end of today."""
    tz = organization.tzinfo
    today = today_in(timezone.now(), tz)
    first = week_start(today) - timedelta(weeks=weeks - 1)
    return local_midnight(first, tz), local_midnight(today + timedelta(days=1), tz)


def nps_cells(nps: Nps) -> dict[str, str]:
    """An NPS as a table row's cells."""
    return {
        "answers": number(nps.answers),
        "score": nps_number(nps.score),
        "margin": ("± " + nps_number(nps.margin) if nps.answers >= MIN_ANSWERS_FOR_MARGIN else "-"),
        "promoters": number(nps.promoters),
        "passives": number(nps.passives),
        "detractors": number(nps.detractors),
    }


def week_label(monday) -> str:
    """A week's label under a chart, in the reader's language ("14 sept.", "Sept. 14")."""
    return formats.date_format(monday, "j N")


def week_chart(
    organization: Organization, start: datetime, end: datetime, *, card: bool = False
) -> str:
    """The NPS week by week; `card`: drawn for a dashboard card (smaller, fewer labels)."""
    points = []
    for monday, nps in selectors.nps_by_week(organization=organization, start=start, end=end):
        title = ""
        if nps.answers:
            title = _("Week of %(date)s: NPS %(score)s, %(answers)s") % {
                "date": formats.date_format(monday),
                "score": nps_number(nps.score),
                "answers": answers_text(nps.answers),
            }
        points.append(charts.WeekPoint(label=week_label(monday), value=nps.score, title=title))
    if card:
        chart = charts.nps_line(
            points, number=number, frame=charts.CARD_FRAME, labels=charts.CARD_X_LABELS
        )
    else:
        chart = charts.nps_line(points, number=number)
    return charts.svg_line_chart(
        chart, label=str(_("NPS by week")), empty_text=str(_("No answers"))
    )


def distribution_chart(counts: list[int]) -> str:
    titles = [
        ngettext("Score %(score)s: %(count)s answer", "Score %(score)s: %(count)s answers", count)
        % {"score": score, "count": number(count)}
        for score, count in enumerate(counts)
    ]
    chart = charts.score_bars(counts, titles=titles, number=number)
    return charts.svg_bar_chart(
        chart, label=str(_("Scores given")), empty_text=str(_("No answers"))
    )


def surveys_url(organization: Organization, *, several: bool, **params) -> str:
    """The surveys' list filtered by `params` (and the organization, for who sees several)."""
    if several:
        params["organization__id__exact"] = organization.pk
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{reverse('admin:satisfaction_satisfactionsurvey_changelist')}?{query}"


def report_figures(organization: Organization, weeks: int, *, several: bool) -> dict[str, Any]:
    """Everything the report shows of one organization: a fixed number of queries."""
    start, end = report_period(organization, weeks)
    summary = selectors.nps_summary(organization=organization, start=start, end=end)
    nps = summary.nps
    counts = selectors.score_distribution(organization=organization, start=start, end=end)
    if summary.response_rate is None:
        rate = _("No survey was sent in this period.")
    else:
        rate = _("%(rate)s answered: %(answered)s of the %(sent)s surveys sent in the period.") % {
            "rate": percent(summary.answered_of_sent, summary.sent),
            "answered": number(summary.answered_of_sent),
            "sent": number(summary.sent),
        }
    bands = [
        {
            "band": band.value,
            "label": band.label,
            "count": number(count),
            "percent": percent(count, nps.answers),
        }
        for band, count in (
            (ScoreBand.PROMOTER, nps.promoters),
            (ScoreBand.PASSIVE, nps.passives),
            (ScoreBand.DETRACTOR, nps.detractors),
        )
    ]
    products = []
    for row in selectors.nps_by_product(organization=organization, start=start, end=end):
        url = surveys_url(organization, several=several, product=row.key)
        products.append({"label": row.label, "url": url, **nps_cells(row.nps)})
        # Then its variants (no list filter of their own: the product's list holds them).
        products.extend(
            {"label": variant.label, "url": url, "variant": True, **nps_cells(variant.nps)}
            for variant in row.variants
        )
    preferences = [
        {"group": row.group_label, "label": row.label, **nps_cells(row.nps)}
        for row in selectors.nps_by_preference(organization=organization, start=start, end=end)
    ]
    pending = selectors.surveys_to_follow_up(organization=organization)
    tz = organization.tzinfo
    follow_ups = [
        {
            "url": reverse("admin:satisfaction_satisfactionsurvey_change", args=[survey.pk]),
            "survey": str(survey),
            "customer": customer_name(survey.customer),
            "badge": score_badge(survey),
            "comment": Truncator(survey.comment).chars(160),
            "answered": when(survey.answered_at, tz),
        }
        for survey in pending[:REPORT_FOLLOW_UPS]
    ]
    last_day = (end - timedelta(days=1)).astimezone(tz).date()
    return {
        "period": _("From Monday %(start)s to today, %(end)s.")
        % {
            "start": formats.date_format(start.astimezone(tz).date()),
            "end": formats.date_format(last_day),
        },
        "headline": nps_headline(nps),
        "nps": nps,
        "response_rate": rate,
        "bands": bands,
        # satisfaction.charts escapes every text it writes.
        "week_chart": mark_safe(week_chart(organization, start, end)),  # noqa: S308
        "distribution_chart": mark_safe(distribution_chart(counts)),  # noqa: S308
        "products": products,
        "preferences": preferences,
        "follow_ups": follow_ups,
        "follow_ups_total": pending.count(),
        "follow_ups_url": surveys_url(organization, several=several, follow_up="todo"),
    }
