"""Long operations (reconciliations, batch exports, demo data) and how far along they are.

An `Operation` row is created when staff (or a command) start the work, is
updated by the worker while it runs (`done` of `total` steps, what it is
doing now) and keeps its outcome: a summary, an error, or for an export the
file it produced.

The produced file is kept in the row (`result`, a `BinaryField`), not under
MEDIA_ROOT: the worker and the web processes may run on different machines
with no shared disk (the project has no MEDIA_ROOT nor file storage), a batch's
exports weigh kilobytes, and a file in the row belongs to its organization and
goes with the row when it is deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.models import TenantModel

#: What `step` codes read as, in the viewer's language; an unknown code is shown as is.
STEP_LABELS = {
    # reconciliation: the resource being listed
    "customer": _("Customers"),
    "product": _("Products"),
    "order": _("Orders"),
    "subscription": _("Subscriptions"),
    # batch exports
    "read": _("Reading the batch"),
    "pick-list": _("Pick list"),
    "packing-slips": _("Packing slips"),
    "production-plan": _("Production plan"),
    "zip": _("Writing the ZIP file"),
    # demo data
    "organizations": _("Organizations and products"),
    "subscriptions": _("Subscriptions"),
    "batches": _("Batches"),
    "surveys": _("Satisfaction surveys"),
    "cases": _("After-sales cases"),
    "preferences": _("Preferences"),
    "shop": _("WooCommerce shop"),
    # carrier labels
    "labels": _("Creating labels"),
}


class Operation(TenantModel):
    """One run of a long operation, with its progress and outcome."""

    class Kind(models.TextChoices):
        RECONCILIATION = "reconciliation", _("Shop reconciliation")
        BATCH_EXPORT = "batch_export", _("Batch exports")
        DEMO_DATA = "demo_data", _("Demo data")
        CARRIER_LABELS = "carrier_labels", _("Carrier labels")

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("operation status", "Queued")
        RUNNING = "running", pgettext_lazy("operation status", "Running")
        SUCCEEDED = "succeeded", pgettext_lazy("operation status", "Succeeded")
        FAILED = "failed", pgettext_lazy("operation status", "Failed")

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # What the operation works on, as staff name it ("Purea shop", "Batch of 2 Dec").
    subject = models.CharField(_("subject"), max_length=200)
    subject_url = models.CharField(_("subject address"), max_length=500, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    done = models.PositiveIntegerField(_("done"), default=0)
    total = models.PositiveIntegerField(_("total"), null=True, blank=True)  # None: not known yet
    step = models.CharField(_("current step"), max_length=100, blank=True)  # a STEP_LABELS code
    error = models.TextField(_("error"), blank=True)
    result_summary = models.TextField(_("result"), blank=True)
    result_name = models.CharField(_("file name"), max_length=200, blank=True)
    result_content_type = models.CharField(_("file type"), max_length=100, blank=True)
    result = models.BinaryField(_("file"), null=True, blank=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("operation")
        verbose_name_plural = _("operations")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return gettext("%(kind)s: %(subject)s") % {
            "kind": self.get_kind_display(),
            "subject": self.subject,
        }

    @property
    def percent(self) -> int | None:
        """0 to 100; None while the total is not known."""
        if not self.total:
            return 100 if self.total == 0 and self.status == self.Status.SUCCEEDED else None
        return min(100, self.done * 100 // self.total)

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def step_label(self) -> str:
        return str(STEP_LABELS.get(self.step, self.step))

    @property
    def has_file(self) -> bool:
        return bool(self.result_name)
