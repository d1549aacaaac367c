"""API fuzzing: schemathesis against the project's own OpenAPI schema, in process.

Every operation of `/api/schema/` is called through the WSGI application with an
organization's API key, on data seeded in that organization (customers, products,
subscriptions, a dispatched batch, a return case, answered surveys). Generated
ids are steered onto those rows (and, one time in a few, onto an id that does
not exist), so operations reach their real code paths instead of a 404.

Checks, on positive and negative (schema-violating) input alike:
- no 5xx;
- the status code is one the schema documents, and the body matches its schema;
- every 4xx body is the documented error shape `{"message": str, "extra": {...}}`;
- input the schema forbids is rejected (`negative_data_rejection`), except the
  scalar coercions DRF makes by design (a number sent as a string, and back).

Bounded for CI: a fixed number of examples per operation, derandomized
(the same cases every run), no shrinking, no deadline. Each operation is its
own test in its own transaction, on the same seeded data under a frozen clock.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
import time_machine
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from rest_framework.test import APIClient
from schemathesis.checks import CheckContext
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from carriers.models import CarrierAccount, Parcel
from core.actors import Actor
from crm.models import Address, Contract, Customer, Membership, Product, Variant
from fulfillment.models import Batch, BatchLine, Shipment
from returns import services as returns
from returns.models import ReturnRequest
from satisfaction.models import SatisfactionSurvey
from subscriptions.models import Subscription
from tests.factories import (
    ContractFactory,
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    VariantFactory,
    answered_surveys,
    api_key_for,
    billing_settings,
    coffee_schema,
    delivered_boxes,
    member,
)

pytestmark = pytest.mark.django_db

#: Examples generated per operation (positive and negative input mixed); raise it
#: for a longer hunt: `API_FUZZ_EXAMPLES=200 pytest tests/test_api_fuzz.py`.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
#: `API_FUZZ_COVERAGE=1` adds schemathesis' coverage phase (boundary values of every
#: parameter, a few hundred cases per operation): too long for CI, useful for a hunt.
COVERAGE = os.environ.get("API_FUZZ_COVERAGE") == "1"
#: The clock every example runs under: seeded dates and "now" never drift between runs.
NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)

app = get_wsgi_application()


def _config(examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 11,
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": True,
                "no-shrink": True,
                # The key is sent with every request (below), never generated or dropped:
                # missing and bad keys are the isolation tests' subject.
                "with-security-parameters": False,
                # Unknown query parameters are ignored, as HTTP APIs do: not a negative case.
                "allow-extra-parameters": False,
            },
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": COVERAGE},
                "stateful": {"enabled": False},
                # Ids come from the seeded rows (below), not from earlier responses:
                # a case never depends on which test ran before it.
                "fuzzing": {"extra-data-sources": {"responses": False}},
            },
        }
    )


# The API takes JSON bodies only (crm/api/parsers.py) and its schema says so: every case is JSON.
schema = schemathesis.openapi.from_wsgi("/api/schema/", app, config=_config(EXAMPLES))


# --- Ids: generated integers land on seeded rows -------------------------------------------

#: The seeded rows' ids by kind (the key's organization's), filled by the `seeded` fixture.
SEEDED: dict[str, list[int]] = {}
#: Another organization's rows, by kind: steered to in negative cases only.
FOREIGN: dict[str, list[int]] = {}

#: Path prefix (after /api/v1/) -> kind of the `{id}` it takes.
PATH_KINDS = {
    "batch-lines": "line",
    "batches": "batch",
    "customers": "customer",
    "parcels": "parcel",
    "products": "product",
    "returns": "return",
    "shipments": "shipment",
    "subscriptions": "subscription",
    "surveys": "survey",
}
#: Body field -> kind of the id it references.
BODY_KINDS = {
    "customer": "customer",
    "product": "product",
    "variant": "variant",
    "shipment": "shipment",
    "assignee": "user",
    "shipping_address": "address",
    "contract": "contract",
    "lines": "line",
    # A bulk action on subscriptions: the ids acted on, and a swap's products and variants.
    "ids": "subscription",
    "from_product": "product",
    "to_product": "product",
    "from_variant": "variant",
    "to_variant": "variant",
}


def _seeded_id(kind: str, value: Any, *, positive: bool) -> Any:
    """An existing row's id picked by `value`.

    Valid input (a positive case) names one of the organization's rows: which rows exist
    is not the schema's to say, as for a path's id. A negative case lands one time in a
    few on another organization's row or on `value` itself, an id that does not exist.
    The pick depends on the generated value and the rows' order only, so the same example
    reaches the same row whatever the database's sequences say.
    """
    own = SEEDED.get(kind)
    if not own or isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return value  # negative input (a string, a float, 0...) stays as generated
    if positive:
        return own[value % len(own)]
    ids = own + FOREIGN.get(kind, [])
    slot = value % (len(ids) + 1)
    return ids[slot] if slot < len(ids) else value


def _steer_body(body: Any, *, positive: bool) -> Any:
    if isinstance(body, list):
        return [_steer_body(item, positive=positive) for item in body]
    if not isinstance(body, dict):
        return body
    steered = {}
    for key, value in body.items():
        kind = BODY_KINDS.get(key)
        if kind and isinstance(value, list):
            steered[key] = [_seeded_id(kind, item, positive=positive) for item in value]
        elif kind:
            steered[key] = _seeded_id(kind, value, positive=positive)
        else:
            steered[key] = _steer_body(value, positive=positive)
    return steered


def _is_positive(case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook  # global: schemathesis offers this hook at no narrower scope
def before_call(context, case, kwargs):
    """Steer ids onto seeded rows; drop empty query values.

    An empty query value means "not given" (django-filter and DRF read it so). Dropped
    before sending, so schemathesis re-validates the case as sent: `?end=` (or an empty
    object or list, sent the same way) is not a negative case that "should have been
    rejected".
    """
    positive = _is_positive(case)
    if case.path_parameters and "id" in case.path_parameters:
        prefix = case.operation.path.removeprefix("/api/v1/").split("/")[0]
        case.path_parameters["id"] = _seeded_id(
            PATH_KINDS[prefix], case.path_parameters["id"], positive=positive
        )
    if isinstance(case.body, dict | list):
        case.body = _steer_body(case.body, positive=positive)
    if case.query:
        for name in [name for name, value in case.query.items() if _sent_empty(value)]:
            del case.query[name]


def _sent_empty(value: Any) -> bool:
    """Whether a query value goes on the wire as `name=` (or not at all)."""
    if isinstance(value, str):
        return value == ""
    if isinstance(value, dict):  # requests sends a dict's keys
        return all(key == "" for key in value)
    if isinstance(value, list):
        return all(item == "" for item in value)
    return False


# --- The documented error shape ----------------------------------------------------------


@schemathesis.check
def error_shape(ctx: CheckContext, response, case) -> bool | None:
    """Every 4xx is `{"message": str, "extra": {...}}` (crm/api/errors.py)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body") from None
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert set(body) == {"message", "extra"}, f"error body keys: {sorted(body)}"
    assert isinstance(body["message"], str), f"message is not a string: {body!r}"
    assert isinstance(body["extra"], dict), f"extra is not an object: {body!r}"
    return True


#: Violations DRF forgives by design, parsing rather than type-checking JSON scalars: a
#: number where the schema says string (a `CharField` or `DecimalField` turns 41239 into
#: "41239"), a numeric string or a whole float where it says integer or number, "true" or 1
#: where it says boolean. Refusing them would take strict fields across the project; every
#: other schema-violating input (missing, out of range, too long, wrong shape) is rejected.
_VIOLATION = re.compile(r"violates `([^`]+)` at (\S+) \(was (\w+), became (\w+)\)")
_FORGIVEN = {
    ("type", "string", "integer"),
    ("type", "string", "number"),
    ("type", "integer", "string"),
    ("type", "integer", "number"),
    ("type", "number", "string"),
    ("type", "boolean", "string"),
    ("type", "boolean", "integer"),
}


#: DRF trims the whitespace around a text before it checks its length: " abc" fits in 3.
_LENGTH = re.compile(r"violates `(\w+)` at /properties/(\w+)")


def _only_trimmed_lengths(message: str, case) -> bool:
    """Every violation is a `maxLength` of a top-level text sent with whitespace around it."""
    violations = _LENGTH.findall(message)
    body = case.body if isinstance(case.body, dict) else {}
    return bool(violations) and all(
        keyword == "maxLength"
        and isinstance(body.get(name), str)
        and body[name] != body[name].strip()
        for keyword, name in violations
    )


@schemathesis.check
def negative_data_rejected(ctx: CheckContext, response, case) -> bool | None:
    """`negative_data_rejection`, but for the scalar coercions DRF makes (`_FORGIVEN`) and
    the whitespace it trims before checking a length."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData as failure:
        violations = _VIOLATION.findall(failure.message)
        if violations and all(
            (keyword, was, became) in _FORGIVEN for keyword, _path, was, became in violations
        ):
            return None
        if _only_trimmed_lengths(failure.message, case):
            return None
        raise


#: Rules a request the schema calls valid can still break, because they depend on the rows
#: stored or tie values together in ways OpenAPI 3.0 cannot state; each is said in the
#: operation's documentation. A 400 naming only these fields is the rule at work, not a
#: valid request refused. Operation (method and path) -> field -> the rule; "*" any operation
#: or field. Everything a schema can say (bounds, patterns, one-of, co-required fields) is
#: in the schema instead.
DATA_RULES: dict[str, dict[str, str]] = {
    "*": {"page": "a page past the last: how many pages there are depends on the rows"},
    "POST /api/v1/returns/": {
        "reason": "one of the organization's reason codes (GET /return-reasons)",
        "items": "products (or variants) the box held, at most its quantities",
    },
    "POST /api/v1/products/": {
        "variants": "an `id` names one of this product's variants (none yet on creation)",
    },
    "PUT /api/v1/products/{id}/": {
        "variants": "an `id` names one of this product's variants",
    },
    "PATCH /api/v1/products/{id}/": {
        "variants": "an `id` names one of this product's variants",
    },
    "POST /api/v1/subscriptions/": {
        "shipping_address": "one of the customer's addresses",
        "contract": "one of the customer's contracts",
        "trial_ends_at": "after the start",
        "ends_at": "after the first charge",
        "items": "a total per cycle a charge can hold (quantity times price, summed); a "
        "product sold by variant needs an active one of its variants",
    },
    "POST /api/v1/subscriptions/{id}/pause/": {
        "resume_at": "in the future: what is past depends on when the request comes"
    },
    "POST /api/v1/subscriptions/{id}/change-items/": {
        "items": "a total per cycle a charge can hold (quantity times price, summed); a "
        "product sold by variant needs an active one of its variants",
    },
    "POST /api/v1/subscriptions/bulk/": {
        "at": "required by `move-next-date`",
        "from_product": "`swap`: what to replace (a product or a variant), required",
        "from_variant": "`swap`: one of the organization's variants",
        "to_product": "`swap`: required; a product sold by variant needs one of its variants, "
        "and the replacement differs from what it replaces",
        "to_variant": "`swap`: an active variant, not the one it replaces",
    },
    "POST /api/v1/batch-lines/prepare/": {
        "codes": "codes as printed on the packing slips (a line id and its check digit)"
    },
    "PUT /api/v1/subscriptions/{id}/preferences/": {
        "*": "keys and values of the organization's preferences (GET /preference-fields)"
    },
    "PATCH /api/v1/subscriptions/{id}/preferences/": {
        "*": "keys and values of the organization's preferences (GET /preference-fields)"
    },
    "GET /api/v1/satisfaction/nps/": {
        "start": "the start of a period, not after its end",
        "end": "the end of a period at most two years long",
    },
}


def _data_rules_only(case, response) -> bool:
    if response.status_code != 400:
        return False
    try:
        fields = response.json()["extra"]["fields"]
    except (ValueError, KeyError, TypeError):
        return False
    rules = {**DATA_RULES["*"], **DATA_RULES.get(f"{case.method.upper()} {case.path}", {})}
    return bool(fields) and ("*" in rules or set(fields) <= set(rules))


@schemathesis.check
def positive_data_accepted(ctx: CheckContext, response, case) -> bool | None:
    """`positive_data_acceptance`, but for the rules about stored data (`DATA_RULES`)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _data_rules_only(case, response):
            return None
        raise


#: Every check schemathesis has, built-in and ours (`@schemathesis.check` registers them),
#: `negative_data_rejection` ("invalid request accepted") and `positive_data_acceptance`
#: ("valid request rejected") run through `negative_data_rejected` and
#: `positive_data_accepted` above.
EXCLUDED_CHECKS = [negative_data_rejection, positive_data_acceptance]


# --- Given: one organization with a bit of everything ------------------------------------


@pytest.fixture(scope="module")
def seed(django_db_setup, django_db_blocker) -> Iterator[tuple[dict[str, str], dict]]:
    """One organization with rows of every kind, made once for the module.

    Yields the request headers (its API key) and the seeded ids by kind. It lives
    in a transaction rolled back at the end of the module; each test runs in a
    savepoint inside it (`seeded`), so every operation starts from the same rows.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        with time_machine.travel(NOW, tick=False):
            headers, ids = _seed()
        yield headers, ids
        transaction.set_rollback(True)


def _seed() -> tuple[dict[str, str], dict[str, dict[str, list[int]]]]:
    org = OrganizationFactory(name="Fuzz Roasters", slug="fuzz")
    other = OrganizationFactory(name="Other Roasters", slug="other")
    billing_settings(org, gateway="test")
    coffee_schema(org)
    staff = member(org, Membership.Role.STAFF, username="fuzz-staff")
    stranger = member(other, Membership.Role.STAFF, username="other-staff")
    customers = CustomerFactory.create_batch(3, organization=org)
    products = ProductFactory.create_batch(3, organization=org)
    ContractFactory(customer=customers[0])
    for status in ("active", "pending", "paused", "canceled"):
        SubscriptionFactory(customer=customers[0], status=status, items=[(products[0], 2)])
    # A product sold by variant, one of them on a subscription.
    sizes = VariantFactory.create_batch(2, product=products[2])
    SubscriptionFactory(customer=customers[1], status="active", items=[(sizes[0], 1)])
    shipments = delivered_boxes(org, delivered_at=NOW - timedelta(days=3), count=2)
    returns.return_open(
        organization=org, shipment=shipments[0], reason="damaged", actor=Actor.for_user(staff)
    )
    answered_surveys(org, [9, 4], answered_at=NOW - timedelta(days=1))
    # A carrier account and the parcel of the first box (labelled).
    account = CarrierAccount.objects.create(
        organization=org, public_key="pk", secret_key="sk", shipping_method="colissimo:home"
    )
    Parcel.objects.create(
        organization=org,
        account=account,
        batch_id=shipments[0].batch_id,
        line_id=shipments[0].line_id,
        reference="fuzz-1",
        state=Parcel.State.LABELLED,
        tracking_number="3SYZXG1",
    )
    # Another organization's rows are among the ids steered to: each must be a 4xx.
    theirs = SubscriptionFactory(customer__organization=other, status="active")
    their_variant = VariantFactory(product__organization=other)
    _row, key = api_key_for(org)

    def ids(model):
        rows = model._default_manager.filter(organization=org).order_by("pk")
        return list(rows.values_list("pk", flat=True))

    own = {
        "customer": ids(Customer),
        "product": ids(Product),
        "variant": ids(Variant),
        "subscription": ids(Subscription),
        "batch": ids(Batch),
        "line": ids(BatchLine),
        "shipment": ids(Shipment),
        "address": ids(Address),
        "contract": ids(Contract),
        "return": ids(ReturnRequest),
        "survey": ids(SatisfactionSurvey),
        "parcel": ids(Parcel),
        "user": [staff.pk],
    }
    foreign = {
        "customer": [theirs.customer_id],
        "subscription": [theirs.pk],
        "variant": [their_variant.pk],
        "user": [stranger.pk],
    }
    return {"Authorization": f"Api-Key {key}"}, {"own": own, "foreign": foreign}


@pytest.fixture
def seeded(seed) -> Iterator[dict[str, str]]:
    """The module's seed (the test's own savepoint is `django_db`'s); yields the headers.

    The WSGI app runs in the test's transaction like Django's test client does: a
    real request closes "old" connections at its start and end, which would close
    the one holding the transaction, so that is turned off meanwhile.
    """
    headers, ids = seed
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    SEEDED.update(ids["own"])
    FOREIGN.update(ids["foreign"])
    try:
        with time_machine.travel(NOW + timedelta(hours=1), tick=False):
            yield headers
    finally:
        SEEDED.clear()
        FOREIGN.clear()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# --- The test ------------------------------------------------------------------------------


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_operation(case, seeded):
    case.call_and_validate(headers=seeded, excluded_checks=EXCLUDED_CHECKS)


# --- The same against a running server ------------------------------------------------------

#: `API_FUZZ_LIVE=1` (or `make fuzz-live`): the same checks over real HTTP against a live
#: server (pytest-django's, in a thread, with committed data), `API_FUZZ_LIVE_EXAMPLES` (30)
#: examples per operation. Skipped by default: about 4 minutes here.
LIVE = os.environ.get("API_FUZZ_LIVE") == "1"
LIVE_EXAMPLES = int(os.environ.get("API_FUZZ_LIVE_EXAMPLES", "30"))


@pytest.fixture
def live_wanted() -> None:
    """Skips a live run unless asked for, before the seed is committed: the `skipif` below
    acts only once schemathesis' lazy test runs, after its fixtures (the seed, and the
    flush of `transactional_db`: seconds of each CI run for a skipped test)."""
    if not LIVE:
        pytest.skip("a live-server run: API_FUZZ_LIVE=1 or `make fuzz-live`")


@pytest.fixture
def live_seed(live_wanted, live_server, transactional_db) -> Iterator[dict[str, str]]:
    """The seed, committed, and the clock the live server answers under; the headers."""
    with time_machine.travel(NOW, tick=False):
        headers, ids = _seed()
    SEEDED.update(ids["own"])
    FOREIGN.update(ids["foreign"])
    try:
        with time_machine.travel(NOW + timedelta(hours=1), tick=False):
            yield headers
    finally:
        SEEDED.clear()
        FOREIGN.clear()


@pytest.fixture
def live_schema(live_seed, live_server):
    return schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/", config=_config(LIVE_EXAMPLES)
    )


live = schemathesis.pytest.from_fixture("live_schema")


@pytest.fixture
def node_id_for_schemathesis(request):
    # schemathesis' lazy schemas name each operation's run through `node._nodeid`, which
    # pytest 9 no longer has: give it one (only the report's names depend on it).
    request.node._nodeid = request.node.nodeid


@pytest.mark.skipif(not LIVE, reason="a live-server run: API_FUZZ_LIVE=1 or `make fuzz-live`")
@live.parametrize()
@settings(
    max_examples=LIVE_EXAMPLES,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_operation_on_a_live_server(case, live_seed, node_id_for_schemathesis):
    case.call_and_validate(headers=live_seed, excluded_checks=EXCLUDED_CHECKS)


def test_the_fuzzing_runs_every_check_schemathesis_has():
    from schemathesis.checks import CHECKS as REGISTERED
    from schemathesis.checks import load_all_checks

    load_all_checks()
    names = {check.__name__ for check in REGISTERED.get_all()}

    # Built-in and ours, "valid request rejected" and "invalid request accepted" among them
    assert {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "negative_data_rejected",
        "positive_data_accepted",
        "error_shape",
    } <= names
    # ... and only the two wrapped ones are left out, each run through its wrapper
    assert {check.__name__ for check in EXCLUDED_CHECKS} == {
        "negative_data_rejection",
        "positive_data_acceptance",
    }


# --- What the fuzzer found, one example each ------------------------------------------------


def _error_fields(response, status=400):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}, body
    return body["extra"].get("fields", {})


def test_an_unknown_api_url_is_a_json_404_for_every_method(org_a):
    # A PUT to /customers/1.5/ missed every route: the catch-all answered a CSRF 403 page.
    client = APIClient(enforce_csrf_checks=True)  # as a real client meets it
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a)[1]}")
    response = client.put("/api/v1/customers/1.5/", {"email": "a@b.co"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.parametrize("page_size", ["abc", "0", "-3", "null", ["2", "3"]])
def test_a_bad_page_size_is_a_400(api_client_a, page_size):
    response = api_client_a.get("/api/v1/customers/", {"page_size": page_size})
    assert "page_size" in _error_fields(response)


def test_a_page_size_over_the_maximum_is_capped_and_a_missing_page_is_a_400(api_client_a, org_a):
    CustomerFactory.create_batch(2, organization=org_a)
    assert len(api_client_a.get("/api/v1/customers/", {"page_size": 10**6}).json()["results"]) == 2
    # DRF answers 404 there, which no list documented.
    assert "page" in _error_fields(api_client_a.get("/api/v1/customers/", {"page": 9}))


def test_every_paginated_list_documents_its_page_errors():
    lists = [
        (path, operation)
        for path, item in schema.raw_schema["paths"].items()
        for operation in item.values()
        if any(p["name"] == "page" for p in operation.get("parameters", []))
    ]
    assert len(lists) >= 10
    for path, operation in lists:
        assert "400" in operation["responses"], path


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("/api/v1/subscriptions/", {"next_charge_after": "0415-05-09T00:50:05+22:44"}),
        ("/api/v1/surveys/", {"answered_before": "2026-11-04T10:00:00-20:05"}),
        ("/api/v1/customers/", {"created_after": "2026-11-04T10:00:00+23:59"}),
    ],
)
def test_a_date_time_with_any_offset_python_reads_is_a_filter_not_a_500(api_client_a, url, query):
    # PostgreSQL refuses offsets beyond ±15:59: compared in UTC, they are fine.
    assert api_client_a.get(url, query).status_code == 200


def test_a_date_time_that_leaves_the_calendar_in_utc_is_a_400(api_client_a):
    response = api_client_a.get(
        "/api/v1/customers/", {"created_after": "0001-01-01T00:00:00+05:00"}
    )
    assert "created_after" in _error_fields(response)


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("/api/v1/products/", {"active": "-1"}),
        ("/api/v1/subscriptions/", {"customer": "0.79"}),
        ("/api/v1/surveys/", {"subscription": "0.0"}),
        ("/api/v1/returns/", {"subscription": "2.5"}),
        ("/api/v1/shipments/", {"batch": "1e3"}),
    ],
)
def test_a_filter_of_the_wrong_type_is_a_400_not_ignored(api_client_a, url, query):
    # They used to answer 200, unfiltered (`active=-1`) or empty (`customer=0.79`).
    assert set(query) <= set(_error_fields(api_client_a.get(url, query)))


@pytest.mark.parametrize(
    ("change", "field"),
    [({"quantity": 61_796_059_370}, "items"), ({"billing_interval": 32_767}, "billing_interval")],
)
def test_a_number_too_large_to_store_is_a_400(api_client_a, org_a, change, field):
    customer = CustomerFactory(organization=org_a)
    product = ProductFactory(organization=org_a)
    body = {"customer": customer.pk, "items": [{"product": product.pk}], "billing_interval": 1}
    if "quantity" in change:
        body["items"][0].update(change)
    else:
        body.update(change)
    response = api_client_a.post("/api/v1/subscriptions/", body, format="json")
    assert field in _error_fields(response)
    assert not Subscription.objects.filter(organization=org_a).exists()


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("ReturnCase", "resolution"),
        ("Survey", "cancel_reason"),
        ("SubscriptionEvent", "to_status"),
    ],
)
def test_a_choice_that_is_empty_until_set_admits_blank_in_the_schema(component, field):
    schemas = schema.raw_schema["components"]["schemas"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in schemas[component]["properties"][field][
        "oneOf"
    ]
