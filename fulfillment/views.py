"""Staff pages outside the admin: the packing room's exports of a batch.

One view serves the nine exports (`fulfillment.exports` builds their content,
`fulfillment.pdf` draws the PDF files). Any
member of the batch's organization may read them, viewers included; another
organization's batch is "not found", and anyone not logged in as staff is sent
to the admin's login page.
"""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.csp import allow_inline_blocks
from fulfillment import exports, pdf
from fulfillment.models import Batch

#: kind in the URL -> (export, format)
KINDS = {f"{export}.{fmt}": (export, fmt) for export in exports.EXPORTS for fmt in exports.FORMATS}

TEMPLATES = {
    exports.PICK_LIST: "fulfillment/pick_list.html",
    exports.PACKING_SLIPS: "fulfillment/packing_slips.html",
    exports.PRODUCTION_PLAN: "fulfillment/production_plan.html",
}


def _titles() -> dict[str, str]:
    return {
        exports.PICK_LIST: _("Pick list"),
        exports.PACKING_SLIPS: _("Packing slips"),
        exports.PRODUCTION_PLAN: _("Production plan"),
    }


def _html_context(content: exports.BatchContent, export: str) -> dict:
    batch = content.batch
    titles = _titles()
    context = {
        "batch": batch,
        "organization": batch.organization,
        "preview": content.preview,
        "later": content.later,
        "title": titles[export],
        "generated_at": timezone.now(),
        "csv_url": reverse("fulfillment:batch-export", args=[batch.pk, f"{export}.csv"]),
        "pdf_url": reverse("fulfillment:batch-export", args=[batch.pk, f"{export}.pdf"]),
        "batch_url": reverse("admin:fulfillment_batch_change", args=[batch.pk]),
        "pages": [
            {
                "title": titles[name],
                "url": reverse("fulfillment:batch-export", args=[batch.pk, f"{name}.html"]),
                "current": name == export,
            }
            for name in exports.EXPORTS
        ],
    }
    if export == exports.PICK_LIST:
        rows = exports.pick_rows(content)
        context.update(
            columns=content.columns,
            groups=exports.pick_groups(rows),
            quantity=sum(row.quantity for row in rows),
            boxes=len(content.parcels),
        )
    elif export == exports.PACKING_SLIPS:
        context["slips"] = exports.packing_slips(content)
    else:
        context["products"] = exports.production(content)
    return context


@require_safe
@never_cache
@staff_member_required
def batch_export(request, pk: int, kind: str):
    """A batch's pick list, packing slips or production plan: CSV, a printable page or PDF."""
    if kind not in KINDS:
        raise Http404
    export, fmt = KINDS[kind]
    batch = get_object_or_404(
        Batch.objects.for_user(request.user).select_related("organization"), pk=pk
    )
    # Dates and times as the organization reads them, whoever prints.
    with timezone.override(batch.organization.tzinfo):
        content = exports.batch_content(batch=batch)
        if fmt == "csv":
            response = HttpResponse(
                exports.export_csv(content, export), content_type="text/csv; charset=utf-8"
            )
            filename = exports.export_filename(content, export, "csv")
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        if fmt == "pdf":
            response = HttpResponse(pdf.export_pdf(content, export), content_type="application/pdf")
            # Inline: the browser shows it, ready to print; saving keeps the file's name.
            filename = exports.export_filename(content, export, "pdf")
            response["Content-Disposition"] = f'inline; filename="{filename}"'
            # No Content-Security-Policy on a PDF: it is no HTML page, and Chromium's viewer
            # shows nothing under the site's `object-src 'none'` (the viewer is a plugin).
            # The file has no script; `nosniff` keeps it a PDF.
            response._csp_exempt = True
            return response
        page = render(request, TEMPLATES[export], _html_context(content, export))
    return allow_inline_blocks(page)
