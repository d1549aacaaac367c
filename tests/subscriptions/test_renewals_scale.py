"""The renewal run at scale: a bounded number of queries per due subscription.

The subscriptions are bulk-created (`bench.renewals.populate`: active monthly
subscriptions with one item each, cycle 1 due, test gateway that pays) and the
queries of `renewals.run` are counted with an execute wrapper (a counter, not
`CaptureQueriesContext`, which would keep every query in memory).

These tests commit (`transaction=True`), as the renewal run does in
production: one transaction per chunk and per charge. Inside a test's single
transaction every one of those would be a savepoint, and tens of thousands of
subtransactions in one transaction overflow PostgreSQL's subtransaction cache,
which makes each query slower the more there are (the 10,000 run then takes
minutes instead of about one).
"""

import math
import time

import pytest
from django.db import connection
from django.utils import timezone

from bench.renewals import QueryCounter, populate
from subscriptions import renewals
from subscriptions.models import Charge, Subscription

pytestmark = pytest.mark.django_db(transaction=True)

# Per due subscription, attempting its charge (renewals._attempt), in its own
# transaction (BEGIN and COMMIT are not statements the wrapper sees):
#   SELECT charge + subscription + customer    FOR UPDATE SKIP LOCKED, for the gateway
#   SAVEPOINT                                  charge_apply_result's atomic block (so
#                                              staff marking several charges keep going
#                                              after one is refused)
#   SELECT charge FOR UPDATE                   charge_apply_result re-reads it locked
#   SELECT subscription + organization         FOR UPDATE (services._lock)
#   UPDATE charge                              paid
#   UPDATE subscription                        next cycle, current period
#   INSERT subscription event                  "renewed"
#   UPDATE batch lines                         charge-then-ship: a box waiting for this
#                                              cycle's payment becomes ready
#   RELEASE SAVEPOINT
PER_SUBSCRIPTION = 9
# Per chunk of renewals.CHUNK subscriptions, each chunk in its own transaction:
#   create_due_charges: SELECT due FOR UPDATE SKIP LOCKED, SELECT the charges
#     another run may have made meanwhile, SELECT their items,
#     INSERT the charges, UPDATE the adjustments (bulk_update)     (5)
#   attempt_charges: SELECT the chunk's charge ids                 (1)
PER_CHUNK = 6
# Once per run: 3 SELECTs for subscriptions to end, expire or resume; the last,
# empty SELECT of due subscriptions; the gateways of the organizations; the
# last, empty SELECT of charge ids.
FIXED = 6


def _renew(n: int):
    now = timezone.now()
    organization, _subscriptions = populate(n, now=now)
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        report = renewals.run(now=now)
    seconds = time.perf_counter() - started
    return organization, report, counter.count, seconds


def _bound(n: int) -> int:
    return PER_SUBSCRIPTION * n + PER_CHUNK * math.ceil(n / renewals.CHUNK) + FIXED


def test_queries_per_subscription_do_not_grow_with_the_number_due():
    counts = {}
    for n in (100, 1_000):
        _organization, report, queries, _seconds = _renew(n)
        assert (report.charges_created, report.paid, report.errors) == (n, n, [])
        assert queries <= _bound(n)
        counts[n] = queries

    # The same whole number of queries per subscription at both sizes...
    assert counts[100] // 100 == counts[1_000] // 1_000 == PER_SUBSCRIPTION
    # ...and each of the 900 more subscriptions costs PER_SUBSCRIPTION queries,
    # plus one more chunk's few (and one empty look for more due rows after a full chunk).
    assert counts[1_000] - counts[100] <= 900 * PER_SUBSCRIPTION + PER_CHUNK + 1


@pytest.mark.timeout(900)  # 90 s on an idle 2-core machine, 280 s on a busy one
def test_renewal_run_over_10000_due_subscriptions():
    n = 10_000
    organization, report, queries, _seconds = _renew(n)

    assert queries <= _bound(n), f"{queries} queries, {queries / n:.2f} per subscription"
    assert queries // n == PER_SUBSCRIPTION
    assert (report.charges_created, report.paid, report.failed, report.pending) == (n, n, 0, 0)
    assert report.errors == []
    charges = Charge.objects.filter(organization=organization)
    assert charges.count() == n
    assert charges.filter(status=Charge.Status.PAID, cycle=1, attempts=1).count() == n
    assert charges.values("subscription").distinct().count() == n
    renewed = Subscription.objects.filter(organization=organization)
    assert (
        renewed.filter(status=Subscription.Status.ACTIVE, current_cycle=1, next_cycle=2).count()
        == n
    )
