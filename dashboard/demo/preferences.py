"""Demo preferences for `manage.py load_demo`: each organization's own schema, and values.

Purea Café (coffee) asks for grind, roast, decaf, origins to avoid and a
delivery note; Maison du Thé (tea) asks for a format and caffeine-free tea, with
a `grind`-free schema of its own. One Purea choice is retired (Turkish grind)
and one subscriber still has it, to show that old values keep rendering.
Values go through `preferences.services` like any other write, then each
change is dated when the subscriber made it (`dated`): the first at sign-up,
the next ones spread over the subscription's life, each counting for the
cycle whose cut-off came next then. `load` runs before the demo's past
batches are locked, so their boxes carry the preferences in force at their
cut-off; `open_batches`, after them, makes sure each organization has its
open batch, so staff see which batch a change applies to.

Idempotent: fields are matched by key, and a subscription that has preferences
already is left as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from crm.models import Organization
from fulfillment.models import FulfillmentSettings
from fulfillment.selectors import cycle_at
from fulfillment.services import batch_open_next
from preferences.models import (
    PreferenceChange,
    PreferenceChoice,
    PreferenceField,
    SubscriptionPreference,
)
from preferences.services import preferences_update
from subscriptions.models import Subscription

# key -> (label, English label, type, options, choices [(value, label, English, active)])
PUREA_FIELDS: list[tuple[str, str, str, str, dict[str, Any], list[tuple]]] = [
    (
        "grind",
        "Mouture",
        "Grind",
        "choice",
        {"required": True, "default": "beans"},
        [
            ("beans", "Grains", "Whole beans", True),
            ("filter", "Filtre", "Filter", True),
            ("espresso", "Espresso", "Espresso", True),
            ("french_press", "Piston", "French press", True),
            ("turkish", "Turque", "Turkish", False),
        ],
    ),
    (
        "roast",
        "Torréfaction",
        "Roast",
        "choice",
        {},
        [
            ("light", "Claire", "Light", True),
            ("medium", "Moyenne", "Medium", True),
            ("dark", "Foncée", "Dark", True),
        ],
    ),
    ("decaf", "Décaféiné", "Decaf", "boolean", {"default": False}, []),
    (
        "avoid_origins",
        "Origines à éviter",
        "Origins to avoid",
        "multi_choice",
        {},
        [
            ("brazil", "Brésil", "Brazil", True),
            ("ethiopia", "Éthiopie", "Ethiopia", True),
            ("colombia", "Colombie", "Colombia", True),
            ("peru", "Pérou", "Peru", True),
        ],
    ),
    (
        "bags",
        "Nombre de sachets",
        "Number of bags",
        "integer",
        {"min_value": 1, "max_value": 6, "default": 1},
        [],
    ),
    ("delivery_note", "Note de livraison", "Delivery note", "text", {"max_length": 200}, []),
]
TEA_FIELDS = [
    (
        "format",
        "Format",
        "Format",
        "choice",
        {"required": True, "default": "loose"},
        [("loose", "Vrac", "Loose leaf", True), ("bags", "Sachets", "Tea bags", True)],
    ),
    ("caffeine_free", "Sans théine", "Caffeine-free", "boolean", {"default": False}, []),
]

# Customer e-mail -> successive writes (the last one is the current value).
PUREA_VALUES = {
    "camille.martin@example.fr": [
        {"grind": "filter", "roast": "medium"},
        {"grind": "espresso", "avoid_origins": ["brazil"]},
    ],
    "lucas.bernard@example.fr": [{"grind": "espresso", "roast": "dark", "bags": 2}],
    "hugo.thomas@example.fr": [{"roast": "light"}, {"roast": "medium", "bags": 3}],
    "sarah.girard@example.fr": [{"grind": "filter", "decaf": True}],
    "jules.durand@example.fr": [{"decaf": True, "delivery_note": "Sonner deux fois"}],
    "ines.leroy@example.fr": [{"grind": "french_press", "avoid_origins": ["peru", "brazil"]}],
    # The weekly regulars.
    "adele.blanc@example.fr": [{"grind": "filter", "roast": "light"}],
    "maxime.garcia@example.fr": [{"grind": "espresso", "roast": "dark"}],
    "juliette.faure@example.fr": [{"roast": "medium", "bags": 2}],
    "antoine.rousseau@example.fr": [{"grind": "french_press", "roast": "medium"}],
}
#: A subscriber sets their preferences this long after signing up.
SIGN_UP_DELAY = timedelta(minutes=5)
RETIRED_CHOICE_CUSTOMER = "emma.dubois@example.fr"
TEA_VALUES = {"alice.garnier@example.fr": [{"format": "bags", "caffeine_free": True}]}


def load(*, purea: Organization, tea: Organization, purea_staff) -> dict[str, int]:
    """The schemas and the demo values, dated. Returns counts for the summary."""
    _schema(purea, PUREA_FIELDS)
    _schema(tea, TEA_FIELDS)
    for organization in (purea, tea):
        FulfillmentSettings.objects.get_or_create(organization=organization)
    actor = Actor.for_user(purea_staff)
    written = _values(purea, PUREA_VALUES, actor)
    written += _values(tea, TEA_VALUES, Actor.system("demo"))
    written += _retired_choice(purea, actor)
    return {"fields": PreferenceField.objects.filter(organization=purea).count(), "new": written}


def open_batches(*, purea: Organization, tea: Organization) -> None:
    """Each organization's open batch (after the past ones): where a change counts now."""
    for organization in (purea, tea):
        batch_open_next(organization=organization)


def _schema(organization: Organization, fields) -> None:
    for position, (key, label, english, type_, options, choices) in enumerate(fields, start=1):
        field, _created = PreferenceField.objects.update_or_create(
            organization=organization,
            key=key,
            defaults={
                "label": label,
                "labels": {"en": english, "fr": label},
                "type": type_,
                "position": position,
                **options,
            },
        )
        for choice_position, (value, choice_label, choice_english, active) in enumerate(
            choices, start=1
        ):
            PreferenceChoice.objects.update_or_create(
                field=field,
                value=value,
                defaults={
                    "label": choice_label,
                    "labels": {"en": choice_english, "fr": choice_label},
                    "position": choice_position,
                    "active": active,
                },
            )


def _live(organization: Organization, email: str) -> Subscription | None:
    return (
        Subscription.objects.filter(organization=organization, customer__email=email)
        .exclude(status__in=[Subscription.Status.CANCELED, Subscription.Status.EXPIRED])
        .exclude(preference__isnull=False)
        .first()
    )


def _values(organization: Organization, values: dict[str, list[dict]], actor: Actor) -> int:
    written = 0
    for email, writes in values.items():
        subscription = _live(organization, email)
        if subscription is None:
            continue
        moments = _moments(subscription, len(writes))
        for change, at in zip(writes, moments, strict=True):
            dated_change(
                preferences_update(
                    subscription=subscription, values=change, actor=actor, source="admin"
                )[1],
                at,
            )
        written += 1
    return written


def _moments(subscription: Subscription, count: int) -> list[datetime]:
    """When a subscriber wrote their `count` changes: at sign-up, then spread up to now.

    The first a few minutes after signing up; each next one a step further over
    the subscription's life, the last one still a week before now when it can be.
    """
    now = timezone.now()
    first = min(subscription.created_at + SIGN_UP_DELAY, now)
    last = max(first, now - timedelta(weeks=1))
    if count == 1:
        return [first]
    return [first + (last - first) * index / (count - 1) for index in range(count)]


def dated_change(change: PreferenceChange | None, at: datetime) -> None:
    """Date a change at `at`, counting for the cycle whose cut-off came next then."""
    if change is None or at >= change.changed_at:
        return
    cycle = cycle_at(organization=change.subscription.organization, at=at)
    PreferenceChange.objects.filter(pk=change.pk).update(
        changed_at=at, effective_cycle=cycle.cycle_date, effective_cutoff_at=cycle.cutoff_at
    )
    SubscriptionPreference.objects.filter(
        subscription_id=change.subscription_id, updated_at__gte=change.changed_at
    ).update(updated_at=at)


def _retired_choice(organization: Organization, actor: Actor) -> int:
    """A subscriber who chose Turkish grind before it was retired: the value still shows."""
    subscription = _live(organization, RETIRED_CHOICE_CUSTOMER)
    if subscription is None:
        return 0
    turkish = PreferenceChoice.objects.filter(field__organization=organization, value="turkish")
    with transaction.atomic():
        turkish.update(active=True)
        _preference, change = preferences_update(
            subscription=subscription, values={"grind": "turkish"}, actor=actor, source="admin"
        )
        turkish.update(active=False)
    dated_change(change, _moments(subscription, 1)[0])
    return 1
