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
from fulfillment.models import Batch
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
    cycle = cycle_date(cutoff_at, organization.tzinfo)
    return Batch.objects.create(
        organization=organization,
        cycle_date=cycle,
        starts_at=starts_at or cutoff_at - timedelta(days=7),
        cutoff_at=cutoff_at,
        ships_on=cycle,
        status=status,
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
