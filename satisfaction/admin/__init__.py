"""The back office's satisfaction pages: survey settings, the surveys, and the report.

- Settings are one row per organization (surveys on or off, the delays, the
  sender, the texts in each language), chosen by its administrators; staff
  and viewers read them. An organization reaching the page for the first time
  finds its row (`services.satisfaction_config_ensure`). A text refused by the
  model (an unknown placeholder, an e-mail without {link}) is shown on its field.
- Surveys are read-only: they are scheduled, sent, answered and expired by
  `satisfaction.services`. The list shows each answer's score with its band,
  the comment, the box's products and what was done about it; the detractors'
  comments still to follow up come first, then the latest answers. A survey's
  page has the buttons "Open an after-sales case", "Mark followed up" and
  "Cancel" (`crm.fsm_admin.ServiceActionsAdminMixin`), each calling its
  service; viewers see none. While the survey is open its page shows the
  customer's link, for staff to give on the phone.
- The report (`<admin>/satisfaction/satisfactionsurvey/report/`, linked from the
  list) shows one organization's NPS over the last weeks: the figure with its
  margin of error, the response rate, the bands, a chart per week and the
  distribution of the scores (inline SVG drawn by `satisfaction.charts`), the
  NPS per product and per preference value, and the comments to follow up
  (its figures: `satisfaction.presentation`, which the dashboard reads too).

Times are in the survey's organization's time zone; the list's "answered"
periods too.

The pages: `settings` (settings and opt-outs), `surveys` (the list, a survey's
page, a subscription's surveys, the report) and their list `filters`.
"""

from satisfaction.admin.settings import SatisfactionConfigAdmin, SurveyOptOutAdmin
from satisfaction.admin.surveys import SatisfactionSurveyAdmin, SubscriptionSurveyInline

__all__ = [
    "SatisfactionConfigAdmin",
    "SatisfactionSurveyAdmin",
    "SubscriptionSurveyInline",
    "SurveyOptOutAdmin",
]
