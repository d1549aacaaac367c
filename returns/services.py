"""Writes of after-sales cases: open, approve, reject, receive, resolve, cancel, reassign.

Every action is atomic: it locks the case row, checks the transition with
django-fsm-2, writes, and adds a `ReturnNote` to the case's timeline in the
same transaction. A refusal raises `ApplicationError` (400: bad input) or
`ConflictError` (409: not allowed in this status) and writes nothing.
Resolving reaches into the other apps through their services: a refund is
recorded against the box's charge (`subscriptions.services.charge_refund`),
a credit is carried to the next charge (`subscription_credit`), a replacement
is a new line of the open batch (`fulfillment.services.line_add_replacement`).
Photos (`return_photos_add`) are checked by their content (`returns.photos`) and kept
through Django's storage API; a refused one writes nothing, in the database or the storage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override
from django_fsm import can_proceed

from core import clock
from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from core.locks import lock_row, save_transition
from crm.models import Membership, Organization
from fulfillment.models import Shipment
from fulfillment.services import line_add_replacement
from returns import photos as photo_rules
from returns.models import (
    DEFAULT_REASONS,
    ReturnConfig,
    ReturnNote,
    ReturnPhoto,
    ReturnReason,
    ReturnRequest,
)
from subscriptions.models import Subscription
from subscriptions.services import charge_refund, positive_amount, subscription_credit

Status = ReturnRequest.Status
Resolution = ReturnRequest.Resolution
NoteKind = ReturnNote.Kind
UNSET = object()  # an argument left out (None has a meaning: unassigned)

#: Who may own a case: members who can act (a viewer cannot).
ASSIGNABLE_ROLES = (Membership.Role.ADMIN, Membership.Role.STAFF)


def _amount(value: Decimal) -> str:
    """An amount in a message: 12.90 in English, 12,90 in French."""
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


def _invalid(field: str, message: str, **extra: Any) -> ApplicationError:
    return ApplicationError(_("Invalid input."), {"fields": {field: [message]}, **extra})


def _action_label(action: str) -> str:
    return {
        "approve": _("approve"),
        "reject": _("reject"),
        "receive": _("mark received"),
        "resolve": _("resolve"),
        "cancel": _("cancel"),
        "reassign": _("reassign"),
    }.get(action, action)


# --- Settings ----------------------------------------------------------------------


def return_config_ensure(*, organization: Organization) -> ReturnConfig:
    """The organization's return settings, created with the default reasons the first time."""
    config, created = ReturnConfig.objects.get_or_create(organization=organization)
    if created and not ReturnReason.objects.filter(organization=organization).exists():
        ReturnReason.objects.bulk_create(
            ReturnReason(
                organization=organization,
                code=code,
                label=english,
                labels={"en": english, "fr": french},
                position=position,
            )
            for position, (code, english, french) in enumerate(DEFAULT_REASONS)
        )
    return config


def return_configs_ensure(*, organization_ids) -> None:
    """Settings and default reasons for those of the organizations that have none yet."""
    missing = Organization.objects.filter(
        pk__in=organization_ids, return_config__isnull=True
    ).order_by("pk")
    for organization in missing:
        return_config_ensure(organization=organization)


def assignable_users(*, organization_ids):
    """The members who may own cases (administrators or staff) of these organizations."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__organization_id__in=organization_ids,
            memberships__role__in=ASSIGNABLE_ROLES,
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@transaction.atomic
def return_config_update(
    *,
    organization: Organization,
    window_days: int,
    service_level_days: int,
    default_assignee: Any = None,
) -> ReturnConfig:
    """Set the organization's return settings (created with the default reasons the first
    time). The default assignee, if any, is an administrator or staff member of it."""
    if (
        default_assignee is not None
        and not assignable_users(organization_ids=[organization.pk])
        .filter(pk=getattr(default_assignee, "pk", default_assignee))
        .exists()
    ):
        raise _invalid(
            "default_assignee", _("Not an administrator or staff member of this organization.")
        )
    config = return_config_ensure(organization=organization)
    config.window_days = window_days
    config.service_level_days = service_level_days
    config.default_assignee_id = getattr(default_assignee, "pk", default_assignee)
    config.save(
        update_fields=["window_days", "service_level_days", "default_assignee", "updated_at"]
    )
    return config


#: What an organization's administrators set of a reason; its code only when adding it.
REASON_FIELDS = ("code", "label", "labels", "active", "position")


@transaction.atomic
def return_reason_save(
    *, organization: Organization, reason: ReturnReason | None = None, **values
) -> ReturnReason:
    """Add a reason to the organization's list (`reason` None), or change one of its reasons.

    A reason's code never changes (the API and past cases name it), and a reason is
    retired (`active` False), never deleted.
    """
    allowed = REASON_FIELDS if reason is None else tuple(f for f in REASON_FIELDS if f != "code")
    unknown = set(values) - set(allowed)
    if unknown:
        raise TypeError(f"Not a reason's setting here: {', '.join(sorted(unknown))}")
    if reason is None:
        reason = ReturnReason(organization=organization)
    elif reason.organization_id != organization.pk:
        raise ValueError("The reason is another organization's.")
    for name, value in values.items():
        setattr(reason, name, value)
    try:
        reason.full_clean()
    except ValidationError as error:
        raise ApplicationError(_("Invalid input."), {"fields": error.message_dict}) from error
    reason.save()
    return reason


# --- Locking and timeline ------------------------------------------------------------


def _lock(case: ReturnRequest | int) -> ReturnRequest:
    return lock_row(
        ReturnRequest.objects.select_related("organization", "subscription", "line", "shipment"),
        case,
    )


def _save(case: ReturnRequest) -> None:
    save_transition(case, changed=gettext_lazy("The case changed meanwhile; try again."))


def _note(
    case: ReturnRequest,
    kind: str,
    actor: Actor,
    *,
    text: str = "",
    from_status: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ReturnNote:
    return ReturnNote.objects.create(
        organization_id=case.organization_id,
        request=case,
        kind=kind,
        from_status=from_status,
        to_status=case.status if from_status else "",
        text=text,
        data=data or {},
        created_at=at or clock.now(),
        **actor.as_fields(),
    )


def _require(case: ReturnRequest, action: str) -> None:
    """Refuse (409) an action the case's status does not allow."""
    allowed = case.is_open if action == "reassign" else can_proceed(getattr(case, action))
    if not allowed:
        raise ConflictError(
            _("Cannot %(action)s this case: it is %(status)s.")
            % {"action": _action_label(action), "status": case.get_status_display().lower()},
            {"status": case.status, "action": action},
        )


def _transition(
    case: ReturnRequest, action: str, actor: Actor, text: str = "", at=None, **data
) -> None:
    """Apply a status transition and write it in the timeline (at `at`, now by default)."""
    _require(case, action)
    at = at or clock.now()
    from_status = case.status
    getattr(case, action)()
    if not case.is_open:
        case.closed_at = at
    _save(case)
    _note(case, NoteKind.STATUS, actor, text=text, from_status=from_status, data=data, at=at)


def _assignee(organization: Organization, user: Any):
    """`user` (a user or id) if they may own the organization's cases; None stays None."""
    if user is None:
        return None
    pk = getattr(user, "pk", user)
    member = (
        get_user_model()
        .objects.filter(
            pk=pk,
            is_active=True,
            memberships__organization=organization,
            memberships__role__in=ASSIGNABLE_ROLES,
        )
        .first()
    )
    if member is None:
        raise _invalid("assignee", _("Not a staff member of this organization."))
    return member


# --- Opening a case --------------------------------------------------------------------


def _shipment(organization: Organization, shipment: Shipment | int) -> Shipment:
    pk = getattr(shipment, "pk", shipment)
    found = (
        Shipment.objects.filter(organization=organization, pk=pk)
        .select_related("line", "line__subscription")
        .first()
    )
    if found is None:  # another organization's shipment reads as unknown
        raise _invalid("shipment", _("Unknown shipment."))
    if found.status == Shipment.Status.CREATED:
        raise _invalid("shipment", _("This shipment has not left yet: nothing to return."))
    return found


def _reason(organization: Organization, reason: ReturnReason | str) -> ReturnReason:
    if isinstance(reason, ReturnReason) and reason.organization_id != organization.pk:
        raise _invalid("reason", _("Not a reason of the shipment's organization."))
    code = getattr(reason, "code", reason)
    found = ReturnReason.objects.filter(organization=organization, code=code, active=True).first()
    if found is None:
        codes = list(
            ReturnReason.objects.filter(organization=organization, active=True).values_list(
                "code", flat=True
            )
        )
        raise _invalid(
            "reason",
            _("Unknown reason %(code)s. Expected one of: %(codes)s.")
            % {"code": code, "codes": ", ".join(codes)},
        )
    return found


def _box_item(line_items: list[dict], product: Any, variant: Any) -> dict:
    """The item of the box a request names: by variant, by product, or both."""
    found = [
        item
        for item in line_items
        if (product is None or item.get("product") == product)
        and (variant is None or item.get("variant") == variant)
    ]
    if not found:
        if variant is not None:
            raise _invalid(
                "items", _("Variant %(variant)s was not in this box.") % {"variant": variant}
            )
        raise _invalid(
            "items", _("Product %(product)s was not in this box.") % {"product": product}
        )
    if len(found) > 1:
        raise _invalid(
            "items",
            _("The box held several variants of product %(product)s: name the variant.")
            % {"product": product},
        )
    return found[0]


def _items(line_items: list[dict], requested: list[dict] | None) -> list[dict]:
    """The requested products (or variants) and quantities, checked against what the box
    held. An entry names a `variant`, a `product`, or both; a product the box held in
    several variants needs its variant."""
    if not requested:
        return []
    chosen: dict[tuple, dict] = {}
    for entry in requested:
        if not isinstance(entry, dict):
            raise _invalid(
                "items", _("Product %(product)s was not in this box.") % {"product": None}
            )
        product = getattr(entry.get("product"), "pk", entry.get("product"))
        variant = getattr(entry.get("variant"), "pk", entry.get("variant"))
        quantity = entry.get("quantity", 1)
        if product is None and variant is None:
            raise _invalid("items", _("Name a product or a variant of the box."))
        item = _box_item(line_items, product, variant)
        key = (item.get("product"), item.get("variant"))
        if key in chosen:
            raise _invalid(
                "items",
                _("Product %(product)s is listed twice.")
                % {"product": item.get("name") or product},
            )
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _invalid("items", _("A quantity is a whole number of at least 1."))
        if quantity > item["quantity"]:
            raise _invalid(
                "items",
                _("The box held %(shipped)s of %(name)s, not %(quantity)s.")
                % {
                    "shipped": item["quantity"],
                    "name": item.get("name") or product,
                    "quantity": quantity,
                },
            )
        chosen[key] = {**item, "quantity": quantity}
    return list(chosen.values())


def window_last_day(*, config: ReturnConfig, shipment: Shipment):
    """The last day (organization's time) a request about `shipment` is in the window.

    Counted from the delivery day, or from the shipping day for a parcel never
    reported delivered (lost, or returned to the sender).
    """
    start = shipment.delivered_at or shipment.shipped_at
    if start is None:
        return None
    local = start.astimezone(config.organization.tzinfo).date()
    return local + timedelta(days=config.window_days)


@transaction.atomic
def return_open(
    *,
    organization: Organization,
    shipment: Shipment | int,
    reason: ReturnReason | str,
    actor: Actor,
    description: str = "",
    items: list[dict] | None = None,
    assignee: Any = UNSET,
    override_reason: str = "",
    now: datetime | None = None,
) -> ReturnRequest:
    """Open an after-sales case about one of the organization's shipments.

    Refused after the return window (the end of the delivery day plus the
    window's days, in the organization's time) unless a staff member gives an
    override reason, which goes into the timeline. One open case per shipment.
    """
    now = now or clock.now()
    config = return_config_ensure(organization=organization)
    shipment = _shipment(organization, shipment)
    reason = _reason(organization, reason)
    override_reason = (override_reason or "").strip()
    line = shipment.line
    requested = _items(line.items or [], items)
    assignee = config.default_assignee if assignee is UNSET else assignee
    if assignee is not None:
        try:
            assignee = _assignee(organization, assignee)
        except ApplicationError:
            if assignee != config.default_assignee:
                raise
            assignee = None  # the default assignee left the organization
    last_day = window_last_day(config=config, shipment=shipment)
    today = now.astimezone(organization.tzinfo).date()
    outside = last_day is not None and today > last_day
    if outside and not override_reason:
        raise ApplicationError(
            _(
                "The return window for this shipment closed on %(date)s (%(days)s days after "
                "delivery). A staff member can accept the request anyway, with a reason."
            )
            % {"date": formats.date_format(last_day), "days": config.window_days},
            {
                "fields": {"override_reason": [_("Required outside the return window.")]},
                "window_closed_on": last_day.isoformat(),
                "window_days": config.window_days,
            },
        )
    if outside and actor.kind != ActorKind.USER:
        message = _("Only a staff member can accept a request outside the return window.")
        raise ApplicationError(
            message,
            {
                "fields": {"override_reason": [message]},
                "window_closed_on": last_day.isoformat(),
                "window_days": config.window_days,
            },
        )
    existing = (
        ReturnRequest.objects.filter(shipment=shipment, status__in=ReturnRequest.OPEN)
        .values_list("pk", flat=True)
        .first()
    )
    if existing:
        raise ConflictError(
            _("Case %(number)s is already open for this shipment.") % {"number": existing},
            {"case": existing},
        )
    case = ReturnRequest.objects.create(
        organization=organization,
        customer_id=shipment.customer_id,
        shipment=shipment,
        line=line,
        subscription_id=line.subscription_id,
        reason=reason,
        description=(description or "").strip(),
        items=requested,
        currency=line.subscription.currency,
        assignee=assignee,
        window_override=override_reason[:500] if outside else "",
        due_at=now + timedelta(days=config.service_level_days),
        opened_at=now,
    )
    _note(
        case,
        NoteKind.OPENED,
        actor,
        text=case.description,
        data={"reason": reason.code, "items": requested},
        at=now,
    )
    if outside:
        _note(
            case,
            NoteKind.OVERRIDE,
            actor,
            text=override_reason,
            data={"window_closed_on": last_day.isoformat()},
            at=now,
        )
    if assignee is not None:
        _note(case, NoteKind.ASSIGNED, actor, data={"assignee": assignee.pk}, at=now)
    return case


# --- Moving a case on ------------------------------------------------------------------


@transaction.atomic
def return_approve(
    *, case: ReturnRequest, actor: Actor, note: str = "", now: datetime | None = None
) -> ReturnRequest:
    case = _lock(case)
    _transition(case, "approve", actor, text=(note or "").strip(), at=now)
    return case


@transaction.atomic
def return_reject(
    *, case: ReturnRequest, actor: Actor, reason: str, now: datetime | None = None
) -> ReturnRequest:
    """Refuse the request; the reason (required) is what the customer is told."""
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", _("Say why the request is rejected."))
    case = _lock(case)
    _transition(case, "reject", actor, text=reason, at=now)
    return case


@transaction.atomic
def return_receive(
    *, case: ReturnRequest, actor: Actor, note: str = "", now: datetime | None = None
) -> ReturnRequest:
    case = _lock(case)
    _transition(case, "receive", actor, text=(note or "").strip(), at=now)
    return case


@transaction.atomic
def return_cancel(
    *, case: ReturnRequest, actor: Actor, reason: str = "", now: datetime | None = None
) -> ReturnRequest:
    case = _lock(case)
    _transition(case, "cancel", actor, text=(reason or "").strip(), at=now)
    return case


def _resolve_refund(case: ReturnRequest, amount: Decimal, actor: Actor) -> str:
    charge = case.line.charge
    if charge is None:
        raise _invalid("resolution", _("This box has no charge to refund."))
    case.charge = charge
    case.amount = amount
    if case.subscription.source == Subscription.Source.WOOCOMMERCE:
        # The shop took the money; only the shop can give it back.
        if amount > charge.amount:
            raise _invalid(
                "amount",
                _("The order was %(amount)s %(currency)s.")
                % {"amount": _amount(charge.amount), "currency": charge.currency},
            )
        case.refund = ReturnRequest.Refund.TO_REFUND_IN_SHOP
        return _("To refund in the shop: %(amount)s %(currency)s on order %(order)s.") % {
            "amount": _amount(amount),
            "currency": charge.currency,
            "order": charge.external_reference or "?",
        }
    charge_refund(charge=charge, amount=amount, actor=actor, reason=str(case))
    case.refund = ReturnRequest.Refund.RECORDED
    return _(
        "Refund of %(amount)s %(currency)s recorded against the charge of cycle %(cycle)s."
    ) % {"amount": _amount(amount), "currency": charge.currency, "cycle": charge.cycle}


def _resolve_replacement(case: ReturnRequest, actor: Actor, now: datetime) -> str:
    subscription = case.subscription
    address = subscription.shipping_address.snapshot() if subscription.shipping_address else None
    line = line_add_replacement(
        subscription=subscription,
        items=case.items or list(case.line.items or []),
        address=address or case.shipment.address,
        preferences=case.line.preferences,
        reason=str(case),
        now=now,
    )
    case.replacement_line = line
    return _("Replacement box added to the batch of %(cutoff)s.") % {
        "cutoff": formats.date_format(line.batch.cutoff_at.astimezone(case.organization.tzinfo))
    }


@transaction.atomic
def return_resolve(
    *,
    case: ReturnRequest,
    actor: Actor,
    resolution: str,
    amount: Any = None,
    note: str = "",
    now: datetime | None = None,
) -> ReturnRequest:
    """Close the case with what the customer gets.

    - refund: recorded against the box's charge (native), or noted as to be
      refunded in the shop (WooCommerce order); `amount` required;
    - credit: the subscription's next charge deducts `amount`;
    - replacement: a box with the returned items (or the whole box) joins the
      open batch and ships with it;
    - none: nothing owed.
    """
    if resolution not in Resolution.values:
        raise _invalid(
            "resolution",
            _("Unknown resolution. Expected one of: %(values)s.")
            % {"values": ", ".join(Resolution.values)},
        )
    needs_amount = resolution in (Resolution.REFUND, Resolution.CREDIT)
    if needs_amount:
        amount = positive_amount(amount)
    elif amount not in (None, ""):
        raise _invalid("amount", _("Only a refund or a credit has an amount."))
    now = now or clock.now()
    case = _lock(case)
    _require(case, "resolve")  # before any money moves
    case.resolution = resolution
    if resolution == Resolution.REFUND:
        effect, kind = _resolve_refund(case, amount, actor), NoteKind.REFUND
    elif resolution == Resolution.CREDIT:
        subscription_credit(
            subscription=case.subscription, amount=amount, actor=actor, reason=str(case)
        )
        case.amount = amount
        effect, kind = (
            _("Credit of %(amount)s %(currency)s carried to the next charge.")
            % {"amount": _amount(amount), "currency": case.currency},
            NoteKind.CREDIT,
        )
    elif resolution == Resolution.REPLACEMENT:
        effect, kind = _resolve_replacement(case, actor, now), NoteKind.REPLACEMENT
    else:
        effect, kind = "", None
    _transition(case, "resolve", actor, text=(note or "").strip(), at=now, resolution=resolution)
    if kind is not None:
        _note(
            case,
            kind,
            actor,
            text=effect,
            data={
                "amount": str(case.amount) if case.amount is not None else None,
                "charge": case.charge_id,
                "line": case.replacement_line_id,
            },
            at=now,
        )
    return case


@transaction.atomic
def return_confirm_shop_refund(
    *, case: ReturnRequest, actor: Actor, note: str = ""
) -> ReturnRequest:
    """Staff say the refund owed on a WooCommerce order was made in the shop."""
    case = _lock(case)
    if case.refund != ReturnRequest.Refund.TO_REFUND_IN_SHOP:
        raise ConflictError(
            _("This case has no refund waiting to be made in the shop."), {"refund": case.refund}
        )
    case.refund = ReturnRequest.Refund.REFUNDED_IN_SHOP
    _save(case)
    _note(case, NoteKind.REFUND, actor, text=(note or "").strip() or _("Refunded in the shop."))
    return case


def returns_refunded_in_shop(*, charge, actor: Actor) -> int:
    """The shop reports the order behind `charge` refunded: its cases waiting for it are done.

    Called by the WooCommerce order sync, inside its transaction. Returns how many.
    """
    cases = list(
        ReturnRequest.objects.select_for_update(of=("self",)).filter(
            charge=charge, refund=ReturnRequest.Refund.TO_REFUND_IN_SHOP
        )
    )
    for case in cases:
        case.refund = ReturnRequest.Refund.REFUNDED_IN_SHOP
        _save(case)
        _note(
            case,
            NoteKind.REFUND,
            actor,
            text=_("The shop reports order %(order)s refunded.")
            % {"order": charge.external_reference or "?"},
        )
    return len(cases)


@transaction.atomic
def return_reassign(*, case: ReturnRequest, actor: Actor, assignee: Any) -> ReturnRequest:
    """Give the case to another staff member (None: nobody)."""
    case = _lock(case)
    _require(case, "reassign")
    user = _assignee(case.organization, assignee)
    if (user.pk if user else None) == case.assignee_id:
        return case
    previous = case.assignee_id
    case.assignee = user
    _save(case)
    _note(
        case,
        NoteKind.ASSIGNED,
        actor,
        data={"assignee": user.pk if user else None, "previous": previous},
    )
    return case


@transaction.atomic
def return_add_note(*, case: ReturnRequest, actor: Actor, text: str) -> ReturnNote:
    """A free note in the timeline (any status: a closed case may still be commented)."""
    text = (text or "").strip()
    if not text:
        raise _invalid("text", _("Write the note."))
    case = _lock(case)
    return _note(case, NoteKind.NOTE, actor, text=text)


# --- Photos ------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return formats.number_format(size / (1024 * 1024), 1, use_l10n=True)


def return_photo_check(*, file: Any) -> str:
    """The content type of an uploaded photo (a Django `UploadedFile` or any file with a
    `size` and `name`), read from its first bytes; refused (400, field `photos`) if it is
    larger than the limit or not a JPEG, PNG or WebP image, whatever its name says."""
    name = getattr(file, "name", "") or _("The file")
    size = getattr(file, "size", None)
    if size is None or size > photo_rules.PHOTO_MAX_BYTES:
        raise _invalid(
            "photos",
            _("%(name)s is too large (%(size)s MB): a photo may be at most %(max)s MB.")
            % {
                "name": name,
                "size": _megabytes(size or 0),
                "max": photo_rules.PHOTO_MAX_BYTES // (1024 * 1024),
            },
        )
    file.seek(0)
    head = file.read(photo_rules.SNIFF_BYTES)
    file.seek(0)
    content_type = photo_rules.sniff(head or b"")
    if content_type is None:
        raise _invalid(
            "photos",
            _("%(name)s is not a JPEG, PNG or WebP photo.") % {"name": name},
        )
    return content_type


@transaction.atomic
def return_photos_add(
    *, case: ReturnRequest, actor: Actor, files: list[Any], now: datetime | None = None
) -> list[ReturnPhoto]:
    """Add photos to a case (at most `photos.PHOTOS_MAX` in all), with one timeline entry.

    Every file is checked before anything is written; if storing one fails, those
    already stored are deleted and the transaction rolls back (nothing written).
    """
    if not files:
        return []
    now = now or clock.now()
    types = [return_photo_check(file=file) for file in files]
    case = _lock(case)
    if case.photos.count() + len(files) > photo_rules.PHOTOS_MAX:
        raise _invalid(
            "photos",
            _("A case may have at most %(count)s photos.") % {"count": photo_rules.PHOTOS_MAX},
        )
    stored: list[ReturnPhoto] = []
    try:
        for file, content_type in zip(files, types, strict=True):
            photo = ReturnPhoto(
                organization_id=case.organization_id,
                request=case,
                content_type=content_type,
                size=file.size,
                original_name=(getattr(file, "name", "") or "")[-255:],
                created_at=now,
                **actor.as_fields(),
            )
            photo.file.save("photo", file, save=False)  # name from upload_to: random
            stored.append(photo)
            photo.save()
    except BaseException:
        for photo in stored:
            photo.file.delete(save=False)
        raise
    _note(
        case,
        NoteKind.PHOTOS,
        actor,
        text=", ".join(photo.original_name for photo in stored if photo.original_name),
        data={"photos": [photo.pk for photo in stored]},
        at=now,
    )
    return stored


# --- The daily overdue list --------------------------------------------------------------


def overdue_lists_send(*, now: datetime | None = None, hour: int = 8) -> dict[int, int]:
    """E-mail each organization's overdue cases once a day, from `hour` local time.

    Each assignee gets their own cases; unassigned ones go to the
    organization's administrators. Returns {organization id: cases listed}.
    """
    from returns.notifications import send_overdue_list  # e-mail rendering

    now = now or clock.now()
    sent: dict[int, int] = {}
    for config in ReturnConfig.objects.select_related("organization"):
        local = now.astimezone(config.organization.tzinfo)
        if local.hour < hour or config.overdue_list_sent_on == local.date():
            continue
        with transaction.atomic():
            locked = ReturnConfig.objects.select_for_update(skip_locked=True).filter(pk=config.pk)
            row = locked.first()
            if row is None or row.overdue_list_sent_on == local.date():
                continue
            with override(config.organization.language):
                count = send_overdue_list(organization=config.organization, now=now)
            row.overdue_list_sent_on = local.date()
            row.save(update_fields=["overdue_list_sent_on", "updated_at"])
            sent[config.organization_id] = count
    return sent
