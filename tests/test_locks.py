"""core.locks: a row read again with its lock, and a concurrent state change refused."""

import pytest
from django.db import transaction

from core.errors import ConflictError
from core.locks import lock_row, save_transition
from subscriptions.models import Subscription
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_a_row_is_read_again_by_instance_or_by_id():
    subscription = SubscriptionFactory(status="active")
    Subscription.objects.filter(pk=subscription.pk).update(status="paused")

    assert lock_row(Subscription.objects, subscription).status == "paused"
    assert lock_row(Subscription.objects.select_related("organization"), subscription.pk).pk == (
        subscription.pk
    )


def test_a_transition_saved_over_a_concurrent_one_is_a_conflict_and_changes_nothing():
    # Given two reads of one active subscription, and the first one paused and saved
    first = SubscriptionFactory(status="active")
    second = Subscription.objects.get(pk=first.pk)
    first.pause()
    save_transition(first, changed="Changed meanwhile.")

    # When the second read is canceled and saved
    second.cancel()
    with pytest.raises(ConflictError) as refused, transaction.atomic():  # as a service's
        save_transition(second, changed="Changed meanwhile.")

    # Then it is refused with the message given (409), and the pause stands
    assert (refused.value.message, refused.value.status) == ("Changed meanwhile.", 409)
    assert Subscription.objects.get(pk=first.pk).status == "paused"
