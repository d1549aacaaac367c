"""Labels for a batch: one parcel per prepared box, on the organization's carrier platform.

A run (`labels_create`, in a Celery task started by `labels_start`) makes sure
each prepared box of a locked batch has its `Parcel` row, then labels every
box not yet labelled, one at a time:

1. claim (one short transaction): lock the parcel's row (`SKIP LOCKED`), skip
   it when labelled or claimed by another run, else count the attempt and
   hold a claim until `claimed_until`; commit.
2. ask the platform, outside any transaction. The request carries the
   parcel's `reference` (the line's code), which the platform refuses to use
   twice. A claim found unreleased (a run that crashed between the platform's
   answer and our commit) first asks the platform for the parcel created with
   that reference, and takes it instead of creating another.
3. record (one short transaction): labelled, refused with the platform's
   message (the next attempt then uses a new reference), or, when the
   platform is unavailable, released as it was; the run then stops.

So a box never gets two parcels: one row per line (a unique constraint), one
run at a time per row (the claim), and the platform's reference check for
the crash in between. A rerun labels only what is not labelled yet; a box
whose address staff corrected (`parcel_address_correct`) is tried again by
the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from carriers import label_sheets, selectors
from carriers.models import CarrierAccount, Parcel
from carriers.platforms import demo as demo_platform
from carriers.platforms import platform_for
from carriers.platforms.base import (
    CarrierPlatform,
    Credentials,
    LabelMissing,
    ParcelCreated,
    ParcelRefused,
    ParcelRequest,
    PlatformUnavailable,
)
from carriers.weights import box_weight_grams
from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from fulfillment import services as fulfillment_services
from fulfillment.models import Batch, BatchLine, line_pk_from_code
from fulfillment.snapshots import box_items

logger = logging.getLogger(__name__)

State = Parcel.State

#: How long a run holds a box it is labelling: longer than the platform's calls can take
#: (a lookup and a creation, each within the connect and read timeouts).
CLAIM_SECONDS = 300


@dataclass
class LabelsReport:
    labelled: int = 0  # by this run
    refused: int = 0  # by this run
    already: int = 0  # labelled before this run
    busy: int = 0  # being labelled by another run
    refusals: dict[str, str] = field(default_factory=dict)  # line code -> the platform's words


def _account(batch: Batch) -> CarrierAccount:
    account = selectors.carrier_account_for(organization=batch.organization)
    if account is None or not account.active:
        raise ConflictError(_("This organization has no active carrier account."))
    if account.is_demo and not demo_platform.allowed():
        raise ConflictError(demo_platform.refusal(), {"platform": account.platform})
    if not account.keys_ready:
        raise ConflictError(_("The carrier account's keys are not set."))
    return account


def _require_locked(batch: Batch) -> None:
    if batch.status != Batch.Status.LOCKED:
        raise ConflictError(
            _("Labels are created for a locked batch; this batch is %(status)s.")
            % {"status": batch.get_status_display().lower()},
            {"batch_status": batch.status},
        )


def platform_of(account: CarrierAccount) -> CarrierPlatform:
    return platform_for(
        account.platform,
        Credentials(public_key=account.public_key, secret_key=account.secret_key),
    )


def labels_start(*, batch: Batch, started_by=None, language: str | None = None):
    """An operation creating the batch's labels, its task queued once committed.

    Refused (409) when the batch is not locked or the organization has no
    usable carrier account: nothing is queued.
    """
    from carriers.tasks import create_labels
    from operations.models import Operation
    from operations.services import operation_launch

    _require_locked(batch)
    _account(batch)
    return operation_launch(
        organization=batch.organization,
        kind=Operation.Kind.CARRIER_LABELS,
        subject=str(batch),
        subject_url=reverse("admin:fulfillment_batch_change", args=[batch.pk]),
        started_by=started_by,
        task=create_labels,
        args=(batch.pk,),
        kwargs={"language": language or translation.get_language()},
    )


def parcels_ensure(*, batch: Batch, account: CarrierAccount) -> int:
    """A pending parcel for each prepared box of the batch that has none (one statement)."""
    lines = BatchLine.objects.filter(
        batch=batch, status=BatchLine.Status.PREPARED, parcel__isnull=True
    )
    rows = [
        Parcel(
            organization_id=batch.organization_id,
            batch=batch,
            line_id=pk,
            account=account,
            reference=BatchLine(pk=pk).code,
        )
        for pk in lines.values_list("pk", flat=True)
    ]
    # A concurrent run may insert the same lines: the unique line keeps one row each.
    return len(Parcel.objects.bulk_create(rows, ignore_conflicts=True))


def labels_create(
    *,
    batch: Batch,
    platform: CarrierPlatform | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    now: Callable[[], datetime] = timezone.now,
) -> LabelsReport:
    """Label every prepared box of a locked batch not labelled yet; safe to run again.

    Raises `PlatformUnavailable` (after releasing the box it was on) when the
    platform cannot be used: what was labelled so far stays labelled.
    """
    _require_locked(batch)
    account = _account(batch)
    platform = platform or platform_of(account)
    parcels_ensure(batch=batch, account=account)
    report = LabelsReport()
    todo = list(
        Parcel.objects.filter(batch=batch, line__status=BatchLine.Status.PREPARED)
        .exclude(state=State.LABELLED)
        .order_by("line_id")
        .values_list("pk", flat=True)
    )
    report.already = Parcel.objects.filter(batch=batch, state=State.LABELLED).count()
    total = len(todo)
    for done, parcel_id in enumerate(todo):
        if progress is not None:
            progress(done, total, "labels")
        outcome, parcel = parcel_label(
            parcel_id=parcel_id, account=account, platform=platform, now=now
        )
        if outcome == State.LABELLED:
            report.labelled += 1
        elif outcome == State.REFUSED:
            report.refused += 1
            report.refusals[parcel.code] = parcel.refusal
        elif outcome == "labelled_before":
            report.already += 1
        else:
            report.busy += 1
    if progress is not None:
        progress(total, total, "labels")
    return report


def _claim(parcel_id: int, now: datetime) -> tuple[Parcel | None, bool, str]:
    """(the parcel claimed, whether an earlier claim was never released, why not)."""
    with transaction.atomic():
        parcel = (
            Parcel.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("line")
            .filter(pk=parcel_id)
            .first()
        )
        if parcel is None:
            return None, False, "busy"
        if parcel.state == State.LABELLED:
            return None, False, "labelled_before"
        if parcel.line.status != BatchLine.Status.PREPARED:
            return None, False, "busy"
        if parcel.claimed_until is not None and parcel.claimed_until > now:
            return None, False, "busy"
        unreleased = parcel.claimed_until is not None
        parcel.attempts += 1
        parcel.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
        Parcel.objects.filter(pk=parcel.pk).update(
            attempts=parcel.attempts, claimed_until=parcel.claimed_until, updated_at=now
        )
        return parcel, unreleased, ""


def _request(parcel: Parcel, account: CarrierAccount) -> tuple[ParcelRequest | None, str]:
    """What to ask the platform for this box, or why it cannot be asked."""
    line = parcel.line
    address = line.address or {}
    items = line.items or []
    unit_weights = None
    if any("weight_grams" not in item for item in items):  # frozen before weights were kept
        refs = [[{"product": i["product"], "variant": i.get("variant")} for i in items]]
        unit_weights = {key: row["weight_grams"] for key, row in box_items(refs).items()}
    grams, missing = box_weight_grams(
        items, packaging_grams=account.packaging_grams, unit_weights=unit_weights
    )
    if missing:
        return None, _("No weight is set for %(items)s: set it on the product or variant.") % {
            "items": ", ".join(missing)
        }
    if not address:
        return None, _("The box has no shipping address.")
    method = selectors.shipping_method_for(account=account, country=address.get("country", ""))
    return (
        ParcelRequest(
            reference=parcel.reference,
            order_number=line.code,
            address=address,
            weight_grams=grams,
            shipping_method=method,
            sender_address_id=account.sender_address_id,
            label_size=account.label_format,
        ),
        "",
    )


def _record(parcel: Parcel, claimed_until, **fields) -> bool:
    """Write the outcome if the claim is still ours (it always is, unless it expired)."""
    fields.update(claimed_until=None, updated_at=timezone.now())
    written = Parcel.objects.filter(pk=parcel.pk, claimed_until=claimed_until).update(**fields)
    for name, value in fields.items():
        setattr(parcel, name, value)
    return bool(written)


def parcel_label(
    *,
    parcel_id: int,
    account: CarrierAccount,
    platform: CarrierPlatform,
    now: Callable[[], datetime] = timezone.now,
) -> tuple[str, Parcel | None]:
    """Label one box (claim, ask, record); returns (outcome, parcel).

    The outcome is a `Parcel.State` for what this call did, or "labelled_before"
    or "busy" when it left the box alone.
    """
    parcel, unreleased, why_not = _claim(parcel_id, now())
    if parcel is None:
        return why_not, None
    claimed_until = parcel.claimed_until
    request, problem = _request(parcel, account)
    if request is None:
        _refuse(parcel, claimed_until, problem)
        return State.REFUSED, parcel
    try:
        created = platform.find_parcel(request.reference) if unreleased else None
        if created is None:
            created = platform.create_parcel(request)
    except ParcelRefused as refusal:
        _refuse(parcel, claimed_until, refusal.message, request=request)
        return State.REFUSED, parcel
    except PlatformUnavailable:
        _record(parcel, claimed_until)
        raise
    except Exception:
        # A bug of ours or an answer we could not read: the claim stays, so the next
        # attempt asks the platform for this reference before creating again.
        logger.exception("labelling parcel %s failed", parcel.pk)
        raise
    _label(parcel, claimed_until, created, request)
    return State.LABELLED, parcel


def _refuse(parcel: Parcel, claimed_until, message: str, request=None) -> None:
    fields = {"state": State.REFUSED, "refusal": message[:2000]}
    if request is not None:
        # The platform may have kept the refused shipment under this reference: the
        # next attempt needs a new one.
        fields["reference"] = f"{parcel.line.code}-{parcel.attempts}"
        fields.update(_asked(request))
    _record(parcel, claimed_until, **fields)


def _asked(request: ParcelRequest) -> dict:
    return {
        "weight_grams": request.weight_grams,
        "shipping_method": request.shipping_method,
        "address": request.address,
    }


def _label(parcel: Parcel, claimed_until, created: ParcelCreated, request) -> None:
    _record(
        parcel,
        claimed_until,
        state=State.LABELLED,
        refusal="",
        platform_parcel_id=created.parcel_id[:100],
        platform_shipment_id=created.shipment_id[:100],
        carrier=(created.carrier_name or created.carrier_code)[:100],
        tracking_number=created.tracking_number[:100],
        tracking_url=created.tracking_url[:1000],
        label_url=created.label_url[:1000],
        labelled_at=timezone.now(),
        carrier_status=created.status_code[:100],
        carrier_status_message=created.status_message[:500],
        **_asked(request),
    )


@transaction.atomic
def parcel_address_correct(*, parcel: Parcel, address: dict, actor: Actor) -> Parcel:
    """Correct a refused box's address; the next labels run tries it again."""
    parcel = Parcel.objects.select_for_update(of=("self",)).get(pk=parcel.pk)
    if parcel.state == State.LABELLED:
        raise ConflictError(
            _("This box is labelled: its address can no longer change here."),
            {"state": parcel.state},
        )
    line = fulfillment_services.line_address_correct(line=parcel.line, address=address, actor=actor)
    Parcel.objects.filter(pk=parcel.pk).update(state=State.PENDING, updated_at=timezone.now())
    parcel.state = State.PENDING
    parcel.line = line
    return parcel


def labels_summary(report: LabelsReport) -> str:
    parts = [
        _("%(count)d labelled") % {"count": report.labelled},
        _("%(count)d refused by the platform") % {"count": report.refused},
    ]
    if report.already:
        parts.append(_("%(count)d labelled before") % {"count": report.already})
    if report.busy:
        parts.append(_("%(count)d being labelled by another run") % {"count": report.busy})
    return ", ".join(parts) + "."


# --- Printing the labels ------------------------------------------------------------------


@dataclass
class LabelsDocument:
    """The merged labels of a batch (or a selection of its boxes), ready for the printer."""

    pdf: bytes
    pages: int
    labels: int  # boxes whose label is in it
    unlabelled: list[str]  # codes of the boxes left out: no label (yet), or none on the platform
    filename: str


def labels_pdf(
    *,
    batch: Batch,
    line_ids: Iterable[int] | None = None,
    platform: CarrierPlatform | None = None,
) -> LabelsDocument:
    """One PDF of the labels of the batch's boxes (or of the lines `line_ids`), in the
    boxes' order, laid out in the organization's label format (A6: one per page; A4:
    four per page).

    Each label is fetched from the platform when printed, not kept here: the
    platform holds the document for the parcel's life, the product has no file
    storage shared by its web and worker machines, and a copy of a label is one
    more copy of a customer's address to keep safe and purge. A box without a
    label, or whose label the platform no longer has, is left out and named in
    `unlabelled`. Raises `ConflictError` when no box has a label, and
    `ApplicationError` (503) when the platform cannot be reached.
    """
    found = selectors.batch_labels(batch=batch, line_ids=line_ids)
    if not found.parcels:
        raise ConflictError(
            _("No box of this selection has a label yet: create the labels first."),
            {"unlabelled": found.unlabelled},
        )
    account = selectors.carrier_account_for(organization=batch.organization)
    account = account or found.parcels[0].account
    platform = platform or platform_of(account)

    def fetch(parcel: Parcel) -> bytes | None:
        try:
            return platform.label_pdf(parcel.platform_parcel_id, paper_size="a6")
        except LabelMissing:
            return None

    # The platform's calls are the slow part (one per label): a few at once. The threads
    # only speak HTTP; the database is read before, and the PDFs (PDFium is not
    # thread-safe) are read and written after, in this thread.
    workers = max(1, min(settings.CARRIER_LABEL_FETCHES, len(found.parcels)))
    try:
        if not getattr(platform, "remote", True):
            documents = [fetch(parcel) for parcel in found.parcels]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                documents = list(pool.map(fetch, found.parcels))
    except PlatformUnavailable as error:
        raise ApplicationError(error.message, {"platform": "unavailable"}, status=503) from error
    unlabelled = list(found.unlabelled)
    kept = []
    for parcel, document in zip(found.parcels, documents, strict=True):
        if document is not None and not label_sheets.is_readable(document):
            logger.warning("parcel %s: the platform's label is no readable PDF", parcel.pk)
            document = None
        if document is None:
            unlabelled.append(parcel.code)
        else:
            kept.append(document)
    if not kept:
        raise ConflictError(
            _("The carrier platform has none of these labels."), {"unlabelled": unlabelled}
        )
    pdf, pages = label_sheets.merge_labels(kept, label_format=account.label_format)
    return LabelsDocument(
        pdf=pdf,
        pages=pages,
        labels=len(kept),
        unlabelled=sorted(unlabelled, key=lambda code: line_pk_from_code(code) or 0),
        filename=f"batch-{batch.cycle_date.isoformat()}-labels.pdf",
    )
