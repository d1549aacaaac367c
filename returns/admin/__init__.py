"""The back office's after-sales pages: return settings, reasons, and the cases.

- Return settings are one row per organization (window, service level, default
  assignee), and reasons an editable list (code, label, translated labels,
  order); both are chosen by the organization's administrators, and a reason
  is retired, never deleted. An organization reaching these pages for the
  first time finds its settings and the default reasons
  (`services.return_config_ensure`).
- Cases are listed with their due date (late ones flagged), filtered by
  status, reason, assignee, "overdue" and "my cases". The add form calls
  `services.return_open`: a refusal (outside the return window without a
  reason, a case already open...) is shown on the form and nothing is written.
  A case's page is read-only: its timeline below, and its buttons (Approve,
  Reject, Mark received, Resolve, Cancel, Reassign, Add a note, Refund made in
  the shop) each open a short form calling the matching service
  (`crm.fsm_admin.ServiceActionsAdminMixin`). Viewers see no button.

Times on a case's pages are in its organization's time zone.

The pages: `settings` (settings and reasons), `cases` (the cases' list and
pages), with their `filters`, `forms` and read-only `inlines` (a case's
timeline; a subscription's cases, shown on the subscription's page).
"""

from returns.admin.cases import ReturnRequestAdmin
from returns.admin.inlines import ReturnNoteInline, SubscriptionCaseInline
from returns.admin.settings import ReturnConfigAdmin, ReturnReasonAdmin

__all__ = [
    "ReturnConfigAdmin",
    "ReturnNoteInline",
    "ReturnReasonAdmin",
    "ReturnRequestAdmin",
    "SubscriptionCaseInline",
]
