"""Factories that keep one object graph inside one organization."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm import services
from crm.models import (
    Address,
    ApiKey,
    Contract,
    Customer,
    Membership,
    Organization,
    Product,
    Variant,
)
from fulfillment.calendar import cycle_date
from fulfillment.models import Batch, BatchLine, Shipment
from preferences.models import PreferenceChoice, PreferenceField
from subscriptions.models import BillingSettings, Charge, Subscription, SubscriptionItem


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"organization-{n}")
    timezone = "Europe/Paris"
    currency = "EUR"
    language = "fr"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "password")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.STAFF


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    language = "fr"


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.SelfAttribute("customer.organization")
    kind = Address.Kind.SHIPPING
    name = factory.LazyAttribute(lambda o: o.customer.full_name or "Recipient")
    line1 = "12 rue des Lilas"
    postcode = "69003"
    city = "Lyon"
    country = "FR"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    organization = factory.SubFactory(OrganizationFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    unit_price = Decimal("12.50")


class VariantFactory(factory.django.DjangoModelFactory):
    """A variant of a product, in the product's organization."""

    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    organization = factory.SelfAttribute("product.organization")
    sku = factory.Sequence(lambda n: f"VAR-{n:04d}")
    attributes = factory.Sequence(lambda n: [{"name": "Weight", "option": f"{n} g"}])
    unit_price = Decimal("9.90")


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.SelfAttribute("customer.organization")
    reference = factory.Sequence(lambda n: f"CT-{n:05d}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A native monthly subscription of one product, anchored now, in the status asked.

    `SubscriptionFactory(status="active")` also fills what an active one has: its
    current (paid) period and the next charge date. Pass `items=[(product, qty)]`
    to choose its items (a variant in place of a product: that variant of its product).
    """

    class Meta:
        model = Subscription
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    organization = factory.SelfAttribute("customer.organization")
    billing_period = "month"
    billing_interval = 1
    billing_anchor = factory.LazyFunction(timezone.now)
    started_at = factory.SelfAttribute("billing_anchor")
    currency = "EUR"
    status = Subscription.Status.PENDING
    next_charge_at = factory.SelfAttribute("billing_anchor")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        subscription = model_class(*args, **kwargs)
        status = subscription.status
        if status in (Subscription.Status.PENDING,) or subscription.current_cycle is not None:
            subscription.save()
            return subscription
        if status in (Subscription.Status.CANCELED, Subscription.Status.EXPIRED):
            subscription.ended_at = subscription.canceled_at = timezone.now()
            subscription.next_charge_at = None
            subscription.save()
            return subscription
        # Active, paused, past due: cycle 0 is paid and current; cycle 1 is next.
        start, end = subscription.cycle_bounds(0)
        subscription.current_cycle = 0
        subscription.current_period_start, subscription.current_period_end = start, end
        subscription.next_cycle = 1
        subscription.next_charge_at = end
        if status == Subscription.Status.PAUSED:
            subscription.paused_at = start
        subscription.save()
        return subscription

    @factory.post_generation
    def items(obj, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            extracted = [(ProductFactory(organization=obj.organization), 1)]
        for sold, quantity in extracted:
            variant = sold if isinstance(sold, Variant) else None
            SubscriptionItem.objects.create(
                organization=obj.organization,
                subscription=obj,
                product=variant.product if variant else sold,
                variant=variant,
                quantity=quantity,
                unit_price=sold.unit_price,
            )
        if obj.current_cycle is not None and not obj.charges.exists():
            start, end = obj.cycle_bounds(obj.current_cycle)
            ChargeFactory(
                subscription=obj,
                cycle=obj.current_cycle,
                period_start=start,
                period_end=end,
                amount=sum(item.total for item in obj.items.all()),
                status=Charge.Status.PAID,
                paid_at=start,
            )


class ChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Charge

    subscription = factory.SubFactory(SubscriptionFactory)
    organization = factory.SelfAttribute("subscription.organization")
    cycle = 0
    period_start = factory.LazyAttribute(lambda o: o.subscription.cycle_start(o.cycle))
    period_end = factory.LazyAttribute(lambda o: o.subscription.cycle_start(o.cycle + 1))
    amount = Decimal("12.50")
    currency = "EUR"


# --- Fulfillment: batches, their lines, shipments ----------------------------------------


def _snapshot_items(subscription) -> list[dict]:
    """The subscription's items as a line names them (product, SKU, name, quantity)."""
    return [
        {
            "product": item.product_id,
            "variant": item.variant_id,
            "sku": item.variant.sku if item.variant else item.product.sku,
            "name": item.product.name,
            "quantity": item.quantity,
        }
        for item in subscription.items.select_related("product", "variant")
    ]


class BatchFactory(factory.django.DjangoModelFactory):
    """A batch (open unless `status=`) closing at `cutoff_at`, covering the week before.

    An organization has one batch per cycle date and one open batch at most: give each
    batch of one organization its own `cutoff_at` and at most one open.
    """

    class Meta:
        model = Batch

    organization = factory.SubFactory(OrganizationFactory)
    cutoff_at = factory.Sequence(
        lambda n: timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(weeks=n)
    )
    cycle_date = factory.LazyAttribute(lambda o: cycle_date(o.cutoff_at, o.organization.tzinfo))
    starts_at = factory.LazyAttribute(lambda o: o.cutoff_at - timedelta(days=7))
    ships_on = factory.SelfAttribute("cycle_date")
    status = Batch.Status.OPEN


class BatchLineFactory(factory.django.DjangoModelFactory):
    """A box of a batch: an active subscriber's cycle (0 unless `cycle=`) in the batch's
    organization, with the subscription's items and a Lyon address as its snapshots.

    As the lock does (charge then ship): `ready` when the cycle's charge is paid (an
    active subscription's cycle 0 is), else `awaiting_payment`; `status=` says otherwise.
    """

    class Meta:
        model = BatchLine

    batch = factory.SubFactory(BatchFactory)
    organization = factory.SelfAttribute("batch.organization")
    subscription = factory.SubFactory(
        SubscriptionFactory,
        status=Subscription.Status.ACTIVE,
        customer__organization=factory.SelfAttribute("...organization"),
    )
    customer = factory.SelfAttribute("subscription.customer")
    cycle = 0
    charge = factory.LazyAttribute(lambda o: o.subscription.charges.filter(cycle=o.cycle).first())
    status = factory.LazyAttribute(
        lambda o: (
            BatchLine.Status.READY
            if o.charge is not None and o.charge.status == Charge.Status.PAID
            else BatchLine.Status.AWAITING_PAYMENT
        )
    )
    items = factory.LazyAttribute(lambda o: _snapshot_items(o.subscription))
    address = factory.LazyAttribute(
        lambda o: {
            "name": o.customer.full_name or "Recipient",
            "line1": "12 rue des Lilas",
            "postcode": "69003",
            "city": "Lyon",
            "country": "FR",
        }
    )


class ShipmentFactory(factory.django.DjangoModelFactory):
    """The parcel of a shipped line of a dispatched batch (`created` unless `status=`;
    `shipped_at` and `delivered_at` filled as the status implies)."""

    class Meta:
        model = Shipment

    line = factory.SubFactory(
        BatchLineFactory, status=BatchLine.Status.SHIPPED, batch__status=Batch.Status.DISPATCHED
    )
    batch = factory.SelfAttribute("line.batch")
    organization = factory.SelfAttribute("line.organization")
    customer = factory.SelfAttribute("line.customer")
    address = factory.SelfAttribute("line.address")
    carrier = "Colissimo"
    status = Shipment.Status.CREATED
    shipped_at = factory.LazyAttribute(
        lambda o: None if o.status == Shipment.Status.CREATED else timezone.now()
    )
    delivered_at = factory.LazyAttribute(
        lambda o: o.shipped_at if o.status == Shipment.Status.DELIVERED else None
    )


# --- After-sales cases and satisfaction surveys ----------------------------------------


def return_reason(organization, code="damaged"):
    """One of the organization's return reasons (the default ones made on first use)."""
    from returns.models import ReturnReason
    from returns.services import return_config_ensure

    return_config_ensure(organization=organization)
    return ReturnReason.objects.get(organization=organization, code=code)


class ReturnRequestFactory(factory.django.DjangoModelFactory):
    """An after-sales case (requested unless `status=`) about a box delivered three days
    before it was opened, for the reason "damaged", due two days after it was opened.

    Written as a row, not through `return_open`: for a test about what reads cases (lists,
    filters, pages). A test about opening one uses `opened_case`.
    """

    class Meta:
        model = "returns.ReturnRequest"

    opened_at = factory.LazyFunction(timezone.now)
    shipment = factory.SubFactory(
        ShipmentFactory,
        status=Shipment.Status.DELIVERED,
        shipped_at=factory.LazyAttribute(lambda o: o.factory_parent.opened_at - timedelta(days=4)),
        delivered_at=factory.LazyAttribute(
            lambda o: o.factory_parent.opened_at - timedelta(days=3)
        ),
    )
    organization = factory.SelfAttribute("shipment.organization")
    customer = factory.SelfAttribute("shipment.customer")
    line = factory.SelfAttribute("shipment.line")
    subscription = factory.SelfAttribute("line.subscription")
    reason = factory.LazyAttribute(lambda o: return_reason(o.organization))
    due_at = factory.LazyAttribute(lambda o: o.opened_at + timedelta(days=2))


class SatisfactionSurveyFactory(factory.django.DjangoModelFactory):
    """A survey about a box delivered four days ago, to send three days after delivery.

    `scheduled` unless `status=`: `sent` also has its sending and closing times, and
    `answered` its score (9 unless `score=`) and answer time.
    """

    class Meta:
        model = "satisfaction.SatisfactionSurvey"

    shipment = factory.SubFactory(
        ShipmentFactory,
        status=Shipment.Status.DELIVERED,
        shipped_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=5)),
        delivered_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=4)),
    )
    organization = factory.SelfAttribute("shipment.organization")
    customer = factory.SelfAttribute("shipment.customer")
    subscription = factory.SelfAttribute("shipment.line.subscription")
    language = factory.SelfAttribute("customer.language")
    delivered_at = factory.SelfAttribute("shipment.delivered_at")
    send_at = factory.LazyAttribute(lambda o: o.delivered_at + timedelta(days=3))
    status = "scheduled"
    sent_at = factory.LazyAttribute(lambda o: None if o.status == "scheduled" else o.send_at)
    expires_at = factory.LazyAttribute(
        lambda o: None if o.sent_at is None else o.sent_at + timedelta(days=14)
    )
    score = factory.LazyAttribute(lambda o: 9 if o.status == "answered" else None)
    answered_at = factory.LazyAttribute(
        lambda o: o.sent_at + timedelta(hours=1) if o.status == "answered" else None
    )


class WooCommerceStoreFactory(factory.django.DjangoModelFactory):
    """A WooCommerce shop connected to an organization (secrets set, the shop not reached)."""

    class Meta:
        model = "woocommerce.WooCommerceStore"

    organization = factory.SubFactory(OrganizationFactory)
    name = "Purea shop"
    base_url = "https://shop.example.com"
    webhook_secret = "s3cret"
    consumer_key = "ck_test"
    consumer_secret = "cs_test"


def billing_settings(organization, gateway="test", retry_days=(1, 3, 5)):
    row, _ = BillingSettings.objects.update_or_create(
        organization=organization,
        defaults={"gateway": gateway, "retry_days": list(retry_days)},
    )
    return row


def api_key_for(organization, name="integration", scope=ApiKey.Scope.READ_WRITE):
    """Create a key through the service; return (ApiKey row, clear key)."""
    return services.api_key_create(organization=organization, name=name, scope=scope)


def preference_field(organization, key, type_, *, choices=(), label=None, **fields):
    """A `PreferenceField` with its choices: `choices=[("espresso", "Espresso"), ...]`."""
    field = PreferenceField.objects.create(
        organization=organization, key=key, label=label or key.title(), type=type_, **fields
    )
    for position, (value, choice_label) in enumerate(choices):
        PreferenceChoice.objects.create(
            field=field, value=value, label=choice_label, position=position
        )
    return field


def coffee_schema(organization):
    """The roaster's preferences: grind, roast, decaf, origins to avoid, grams, a note."""
    return [
        preference_field(
            organization,
            "grind",
            "choice",
            choices=[("beans", "Whole beans"), ("filter", "Filter"), ("espresso", "Espresso")],
            required=True,
            default="beans",
            position=1,
        ),
        preference_field(
            organization,
            "roast",
            "choice",
            choices=[("light", "Light"), ("medium", "Medium"), ("dark", "Dark")],
            position=2,
        ),
        preference_field(organization, "decaf", "boolean", default=False, position=3),
        preference_field(
            organization,
            "avoid_origins",
            "multi_choice",
            choices=[("brazil", "Brazil"), ("ethiopia", "Ethiopia"), ("peru", "Peru")],
            position=4,
        ),
        preference_field(
            organization, "grams", "integer", min_value=250, max_value=1000, position=5
        ),
        preference_field(organization, "note", "text", max_length=20, position=6),
    ]


def open_batch(organization, cutoff_at, *, status="open", starts_at=None):
    """A batch of `organization` closing at `cutoff_at` (in the status asked).

    It covers the week before its cut-off unless `starts_at` says otherwise.
    """
    return BatchFactory(
        organization=organization,
        cutoff_at=cutoff_at,
        status=status,
        **({"starts_at": starts_at} if starts_at else {}),
    )


def delivered_boxes(organization, *, delivered_at, count=1, items=None, **subscription_fields):
    """`count` weekly subscribers' boxes, paid, packed, shipped and delivered at `delivered_at`.

    Made through the fulfillment services (lock, prepare, dispatch, deliver) from
    the batch of the organization's last calendar cut-off at least two days before
    the delivery (so the next batch the lock opens never clashes with it), or the
    week before when an earlier call packed that one. The open batch an earlier
    call left (empty) gives way to it, so a test can deliver week after week.
    `customer=` gives the boxes to an existing customer (a second subscription
    of theirs). Returns the shipments.
    """
    from core.actors import Actor
    from fulfillment import services as fulfillment
    from fulfillment.calendar import next_cutoff
    from fulfillment.selectors import fulfillment_settings_for

    actor = Actor.system("warehouse")
    calendar = fulfillment_settings_for(organization=organization)
    cutoff = next_cutoff(
        delivered_at - timedelta(days=9),
        weekday=calendar.cutoff_weekday,
        at=calendar.cutoff_time,
        tz=organization.tzinfo,
    )
    for _ in range(52):  # that cycle was packed already (an earlier call): the week before
        batch = Batch.objects.filter(organization=organization, cutoff_at=cutoff).first()
        if batch is None or batch.status == Batch.Status.OPEN:
            break
        cutoff = next_cutoff(
            cutoff - timedelta(days=8),
            weekday=calendar.cutoff_weekday,
            at=calendar.cutoff_time,
            tz=organization.tzinfo,
        )
    if batch is None:
        Batch.objects.filter(
            organization=organization, status=Batch.Status.OPEN, lines__isnull=True
        ).delete()
        batch = open_batch(organization, cutoff)
    if "customer" not in subscription_fields:
        subscription_fields["customer__organization"] = organization
    subscriptions = [
        SubscriptionFactory(
            status=Subscription.Status.ACTIVE,
            billing_period="week",
            billing_anchor=cutoff - timedelta(days=1),
            shipping_address=None,
            **({"items": items} if items is not None else {}),
            **subscription_fields,
        )
        for _ in range(count)
    ]
    for subscription in subscriptions:
        address = AddressFactory(customer=subscription.customer)
        Subscription.objects.filter(pk=subscription.pk).update(shipping_address=address)
    fulfillment.batch_lock(batch=batch, actor=actor, now=cutoff + timedelta(minutes=1))
    for line in batch.lines.filter(subscription__in=subscriptions):
        fulfillment.line_prepare(line=line, actor=actor)
    fulfillment.batch_dispatch(batch=batch, actor=actor, carrier="Colissimo", now=cutoff)
    shipments = []
    for subscription in subscriptions:
        shipment = batch.shipments.get(line__subscription=subscription)
        fulfillment.shipment_transition(
            shipment=shipment, action="deliver", actor=actor, at=delivered_at
        )
        shipment.refresh_from_db()
        shipments.append(shipment)
    return shipments


def satisfaction_on(organization, **fields):
    """Turn the organization's surveys on (with `fields` changed); returns its settings."""
    from satisfaction.services import satisfaction_config_ensure

    config = satisfaction_config_ensure(organization=organization)
    config.enabled = True
    for name, value in fields.items():
        setattr(config, name, value)
    config.save()
    return config


def answered_surveys(organization, scores, *, answered_at, comments=None, **box_fields):
    """One delivered box per score, surveyed, e-mailed and answered through the services.

    Each box is a new subscriber's (no cooling period in the way), delivered five
    days before `answered_at`; the surveys are sent three days after delivery.
    `box_fields` go to `delivered_boxes` (items=..., and subscription fields).
    Returns the surveys, answered, in the order of `scores`.
    """
    from satisfaction import services as satisfaction
    from satisfaction.models import SatisfactionSurvey

    satisfaction_on(organization, delay_days=3)
    delivered_at = answered_at - timedelta(days=5)
    sent_at = delivered_at + timedelta(days=3, minutes=1)
    shipments = delivered_boxes(
        organization, delivered_at=delivered_at, count=len(scores), **box_fields
    )
    satisfaction.surveys_schedule_for(organization=organization, now=sent_at)
    surveys = []
    for shipment, score, comment in zip(
        shipments, scores, comments or [""] * len(scores), strict=True
    ):
        survey = SatisfactionSurvey.objects.get(shipment=shipment)
        satisfaction.survey_send(survey_id=survey.pk, now=sent_at)
        surveys.append(
            satisfaction.survey_answer(
                token=survey.token, score=score, comment=comment, now=answered_at
            )
        )
    return surveys


def member(organization, role, **user_fields):
    """A new user with `role` in `organization` (`user_fields`: username, first_name...)."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def opened_case(organization, shipment, user, **kwargs):
    """An after-sales case about `shipment`, opened by `user` through the service
    (reason "damaged" unless `reason=`; other `kwargs` go to `returns.services.return_open`)."""
    from core.actors import Actor
    from returns import services as returns

    return returns.return_open(
        organization=organization,
        shipment=shipment,
        reason=kwargs.pop("reason", "damaged"),
        actor=Actor.for_user(user),
        **kwargs,
    )
