"""Writes of the CRM core. Keyword-only, atomic, raising ApplicationError."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from crm.models import (
    NOTE_MAX_LENGTH,
    Address,
    ApiKey,
    Customer,
    CustomerEmail,
    CustomerNote,
    Membership,
    Organization,
    Product,
    Variant,
    sku_taken_message,
)

_PREFIX_ALPHABET = string.ascii_letters + string.digits


def _full_clean(instance, *, exclude: list[str] | None = None) -> None:
    """Validate a row as the admin would; refuse with field errors."""
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as exc:
        raise ApplicationError(_("Invalid input."), {"fields": exc.message_dict}) from exc


def _save_unique(instance, *, field: str, lookup: dict[str, Any], message: str) -> None:
    """Validate and save a row whose `field` is unique in its organization.

    The error names the field (the database constraint alone would only say
    "not unique"); the constraint still decides a race between two requests.
    A duplicate is a conflict with a stored row (409), not malformed input.
    """
    _full_clean(instance)
    duplicate = ConflictError(message, {"fields": {field: [message]}})
    others = type(instance).objects.filter(organization=instance.organization_id, **lookup)
    if others.exclude(pk=instance.pk).exists():
        raise duplicate
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise duplicate from exc


# --- API keys ----------------------------------------------------------------


def user_staff_status_sync(*, user_id: int) -> bool:
    """A membership is what opens the back office: the user's staff status follows it.

    Django's admin lets in only users with `is_staff`; an organization's admin who adds
    a member cannot set it (the user list is not theirs). So staff status is granted
    while the user belongs to an organization and taken back when they belong to none
    (a superuser keeps it). Called whenever a membership is saved or deleted
    (crm.apps); returns the user's staff status.
    """
    from django.contrib.auth import get_user_model

    member = Membership.objects.filter(user_id=user_id).exists()
    users = get_user_model().objects.filter(pk=user_id)
    users.filter(is_superuser=False).exclude(is_staff=member).update(is_staff=member)
    return users.filter(is_staff=True).exists()


def api_key_create(
    *, organization: Organization, name: str, scope: str, created_by=None
) -> tuple[ApiKey, str]:
    """Create a key with its scope (`ApiKey.Scope`) and return it with its clear text,
    which is never stored."""
    if scope not in ApiKey.Scope.values:
        raise ApplicationError(
            _("Invalid input."), {"fields": {"scope": [_("Choose read only or read and write.")]}}
        )
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    key = f"{prefix}.{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        scope=scope,
        prefix=prefix,
        hashed_key=ApiKey.hash(key),
        created_by=created_by,
    )
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_record_use(*, api_key_id: int, used_at: datetime) -> None:
    # Only moves forward: a late or repeated task never rewinds the time.
    ApiKey.objects.filter(pk=api_key_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at)
    ).update(last_used_at=used_at)


# --- Customers ---------------------------------------------------------------

CUSTOMER_FIELDS = ("email", "first_name", "last_name", "phone", "language")
ADDRESS_FIELDS = (
    "kind",
    "name",
    "company",
    "line1",
    "line2",
    "postcode",
    "city",
    "state",
    "country",
    "phone",
)


def _validated_addresses(*, customer: Customer, addresses: list[dict[str, Any]]) -> list[Address]:
    """The given addresses as unsaved rows of the customer, each checked as the admin would."""
    rows = []
    for index, data in enumerate(addresses):
        address = Address(
            organization=customer.organization,
            customer=customer,
            **{key: value for key, value in data.items() if key in ADDRESS_FIELDS},
        )
        try:
            address.full_clean(exclude=["customer"])
        except ValidationError as exc:
            raise ApplicationError(
                _("Invalid input."), {"fields": {"addresses": {index: exc.message_dict}}}
            ) from exc
        rows.append(address)
    return rows


def _replace_addresses(*, customer: Customer, addresses: list[dict[str, Any]]) -> None:
    """Make the customer's addresses the given ones, editing the existing rows in place.

    Rows keep their identity: what points at an address (a subscription's
    shipping address) keeps pointing at it, and an edit is kept as an
    `AddressRevision` (Address.save), which is how a batch reads the address as
    it stood at its cut-off. So an address sent again unchanged stays as it is;
    each other given address takes the place of an existing one of the same
    kind, in order; the rest are created. Existing addresses left over are
    deleted, unless something still uses them: then nothing is changed and the
    request is refused (deleting them would leave a subscription shipping
    nowhere, and its open batch's box without an address).
    """
    given = _validated_addresses(customer=customer, addresses=addresses)
    existing = list(customer.addresses.select_for_update().order_by("kind", "id"))
    unmatched = []
    for row in given:
        same = next(
            (a for a in existing if a.kind == row.kind and a.snapshot() == row.snapshot()), None
        )
        if same is None:
            unmatched.append(row)
        else:
            existing.remove(same)
    for row in unmatched:
        target = next((a for a in existing if a.kind == row.kind), None)
        if target is None:
            row.save()
            continue
        existing.remove(target)
        for name in Address.CONTENT_FIELDS:
            setattr(target, name, getattr(row, name))
        target.save()
    for leftover in existing:
        try:
            leftover.delete()
        except ProtectedError as exc:
            uses = ", ".join(
                f"{obj._meta.verbose_name} {obj}" for obj in list(exc.protected_objects)[:3]
            )
            message = _(
                "The address “%(address)s” is in use (%(uses)s): send it again, send another "
                "address of the same kind to take its place, or change what uses it first."
            ) % {"address": leftover, "uses": uses}
            # Valid input that what is stored refuses: a conflict (409).
            raise ConflictError(message, {"fields": {"addresses": [message]}}) from exc


def _save_customer(customer: Customer) -> None:
    _save_unique(
        customer,
        field="email",
        lookup={"email__iexact": customer.email},
        message=_("A customer with this e-mail already exists."),
    )


@transaction.atomic
def customer_create(
    *, organization: Organization, addresses: list[dict[str, Any]] | None = None, **fields: Any
) -> Customer:
    fields.setdefault("language", organization.language)  # the shop's language by default
    customer = Customer(
        organization=organization,
        **{key: value for key, value in fields.items() if key in CUSTOMER_FIELDS},
    )
    _save_customer(customer)
    if addresses:
        _replace_addresses(customer=customer, addresses=addresses)
    return customer


@transaction.atomic
def customer_update(
    *, customer: Customer, addresses: list[dict[str, Any]] | None = None, **fields: Any
) -> Customer:
    """Update the given fields; `addresses`, when given, replaces them all."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    for key, value in fields.items():
        if key in CUSTOMER_FIELDS:
            setattr(customer, key, value)
    _save_customer(customer)
    if addresses is not None:
        _replace_addresses(customer=customer, addresses=addresses)
    return customer


# --- Products and variants --------------------------------------------------------

PRODUCT_FIELDS = ("sku", "name", "description", "unit_price", "active")
#: Also written, not listed among the API's basic fields (added with variants).
_PRODUCT_WRITABLE = (*PRODUCT_FIELDS, "net_weight_grams")
VARIANT_FIELDS = ("sku", "attributes", "unit_price", "net_weight_grams", "active", "position")


def _claim_sku(instance: Product | Variant) -> None:
    """Refuse a SKU another product or variant of the organization has (409).

    Products and variants are two tables, each with its own unique constraint;
    a SKU is unique across both. A transaction-level advisory lock on
    (organization, SKU) makes two requests taking one SKU wait for each other,
    so the check below decides the race the constraints cannot.
    """
    if not instance.organization_id or not instance.sku:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"sku:{instance.organization_id}:{instance.sku}"],
        )
    other_model = Variant if isinstance(instance, Product) else Product
    taken = other_model.objects.filter(organization_id=instance.organization_id, sku=instance.sku)
    if other_model is Variant:
        taken = taken.select_related("product")
    row = taken.first()
    if row is not None:
        message = sku_taken_message(row)
        raise ConflictError(message, {"fields": {"sku": [message]}})


def _save_product(product: Product) -> None:
    _claim_sku(product)
    _save_unique(
        product,
        field="sku",
        lookup={"sku": product.sku},
        message=_("A product with this SKU already exists."),
    )


def _save_variant(variant: Variant) -> None:
    _claim_sku(variant)
    _save_unique(
        variant,
        field="sku",
        lookup={"sku": variant.sku},
        message=_("A variant with this SKU already exists."),
    )


@transaction.atomic
def product_create(
    *, organization: Organization, variants: list[dict[str, Any]] | None = None, **fields: Any
) -> Product:
    """A product; with `variants`, a product sold through them (see `product_variants_set`)."""
    product = Product(
        organization=organization,
        **{key: value for key, value in fields.items() if key in _PRODUCT_WRITABLE},
    )
    _save_product(product)
    if variants:
        product_variants_set(product=product, variants=variants)
    return product


@transaction.atomic
def product_update(
    *, product: Product, variants: list[dict[str, Any]] | None = None, **fields: Any
) -> Product:
    product = Product.objects.select_for_update().get(pk=product.pk)
    for key, value in fields.items():
        if key in _PRODUCT_WRITABLE:
            setattr(product, key, value)
    _save_product(product)
    if variants is not None:
        product_variants_set(product=product, variants=variants)
    return product


# --- Staff notes and the e-mails sent to customers -----------------------------------------


def note_text(text: str | None) -> str:
    """A note's text, stripped; refused when empty or longer than `NOTE_MAX_LENGTH`."""
    text = (text or "").strip()
    problem = ""
    if not text:
        problem = _("Write the note.")
    elif len(text) > NOTE_MAX_LENGTH:
        problem = _("A note has at most %(count)s characters.") % {"count": NOTE_MAX_LENGTH}
    if problem:
        raise ApplicationError(_("Invalid input."), {"fields": {"text": [problem]}})
    return text


def customer_note_add(*, customer: Customer, text: str, actor: Actor) -> CustomerNote:
    """Write a staff note on `customer` (their page lists the newest first)."""
    return CustomerNote.objects.create(
        organization_id=customer.organization_id,
        customer=customer,
        text=note_text(text),
        **actor.as_fields(),
    )


def customer_email_record(
    *,
    customer: Customer,
    kind: str,
    to: str,
    subject: str,
    sent_at: datetime,
    error: str = "",
) -> CustomerEmail:
    """Keep what was sent to `customer` (or why it was not), for their page."""
    return CustomerEmail.objects.create(
        organization_id=customer.organization_id,
        customer=customer,
        kind=kind,
        to=to,
        subject=subject[:300],
        status=CustomerEmail.Status.FAILED if error else CustomerEmail.Status.SENT,
        error=error[:500],
        sent_at=sent_at,
    )


# --- Variants ------------------------------------------------------------------------------


@transaction.atomic
def variant_create(*, product: Product, **fields: Any) -> Variant:
    variant = Variant(
        organization_id=product.organization_id,
        product=product,
        **{key: value for key, value in fields.items() if key in VARIANT_FIELDS},
    )
    _save_variant(variant)
    return variant


@transaction.atomic
def variant_update(*, variant: Variant, **fields: Any) -> Variant:
    variant = Variant.objects.select_for_update().select_related("product").get(pk=variant.pk)
    for key, value in fields.items():
        if key in VARIANT_FIELDS:
            setattr(variant, key, value)
    _save_variant(variant)
    return variant


@transaction.atomic
def product_variants_set(*, product: Product, variants: list[dict[str, Any]]) -> list[Variant]:
    """Make the product's variants the given ones, in the given order.

    An entry with an `id` updates that variant of the product (another
    product's or organization's id is refused); one without is created. A
    variant left out is retired (`active` false), never deleted: subscription
    items and the boxes already packed name it. Positions follow the order
    given unless an entry sets its own. Errors are told per entry
    (`extra.fields.variants.<index>`).
    """
    existing = {
        variant.pk: variant
        for variant in Variant.objects.select_for_update().filter(product=product)
    }
    seen: set[int] = set()
    result = []
    for index, data in enumerate(variants):
        fields = {key: value for key, value in data.items() if key in VARIANT_FIELDS}
        fields.setdefault("position", index)
        pk = data.get("id")
        try:
            if pk is None:
                result.append(variant_create(product=product, **fields))
                continue
            if pk not in existing or pk in seen:
                message = _("Unknown variant of this product.")
                raise ApplicationError(message, {"fields": {"id": [message]}})
            seen.add(pk)
            result.append(variant_update(variant=existing[pk], **fields))
        except ApplicationError as exc:
            fields_errors = exc.extra.get("fields", {})
            raise type(exc)(
                exc.message, {"fields": {"variants": {index: fields_errors}}}, status=exc.status
            ) from exc
    for pk, variant in existing.items():
        if pk not in seen and variant.active:
            variant.active = False
            variant.save(update_fields=["active", "updated_at"])
    return result
