"""Isolation sweep: organization B's API key and staff never reach organization A's rows.

Nothing here lists routes or admins by hand: the API routes come from the URL
resolver (every DRF view set route under `api/`), the admin pages from
`admin.site._registry` and each model admin's own URLs. For each, B is shown
A's ids and must get what the README documents for another organization's row:

- API lists: 200 with B's rows only (no A id, nothing of A's in the body).
- API reads and writes on A's row: 404 exactly like a missing row, and nothing
  in the database changes (a snapshot of every tenant table, before and after).
- API writes that name rows (customer, product, address, contract, shipment,
  reason, assignee, lines): A's ids are unknown ids, 400 (a field error) or 404
  where the README says so (batch lines); nothing is created or changed.
- Admin (B's *admin*, the most rights in B): every changelist without A's rows;
  A's change, history and delete pages, the transition forms and custom pages
  404; a POST to any of them and every changelist action on A's ids change
  nothing; add forms and autocomplete offer none of A's rows; the report page
  and the packing room's exports (outside the admin) show nothing of A's.

A route or admin the sweep cannot cover (no A row of its model, an unknown path
parameter, a create route without a reference plan, an unknown custom admin
URL) fails `test_every_*_is_covered`: extend the sweep (or the small allowlists
below, with a reason) when adding one. The data are built once for the module.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection, transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from carriers.models import CarrierAccount, CarrierDelivery, CountryShippingMethod, Parcel
from core.actors import Actor
from crm.models import Membership, Organization
from crm.tenant_admin import TenantAdminMixin
from fulfillment.models import BatchLine, FulfillmentSettings, Shipment, line_code
from operations.models import Operation
from preferences.models import PreferenceChange
from returns.models import ReturnReason, ReturnRequest
from subscriptions.models import Subscription
from tests.carriers.fake_sendcloud import FakeSendcloud
from tests.factories import (
    AddressFactory,
    ContractFactory,
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    VariantFactory,
    answered_surveys,
    api_key_for,
    billing_settings,
    delivered_boxes,
    member,
    preference_field,
)
from woocommerce.models import WebhookDelivery, WooCommerceStore, WooMapping, WooOrder

pytestmark = pytest.mark.django_db

Role = Membership.Role

#: Every identifying text of A's rows holds it; no answer to B may. The underscore keeps
#: it out of random tokens (CSRF tokens are letters and digits).
MARKER = "zq_a"

#: Addresses under /api/ that hold no organization's rows, with why.
API_WITHOUT_TENANT_ROWS = {
    "api/schema/": "the OpenAPI document: describes routes, holds no rows",
    "api/docs/": "Swagger UI: a static page reading the schema",
    "api/": "the catch-all answering unknown API addresses with a 404 in the error shape",
}

#: Addresses under /api/ that are not view sets, each swept by its own test here.
API_SWEPT_APART = {
    "api/v1/search/": "test_b_finds_none_of_as_rows_by_searching_for_them",
}

#: Registered admins of models that no organization owns, with why (B's staff get 403).
ADMIN_WITHOUT_TENANT_ROWS = {
    "auth.User": "people are shared: only superusers manage them",
    "auth.Group": "Django groups are unused by the tenancy: only superusers see them",
    # Sign-in (issue 23b): about people, not an organization's rows; superusers only.
    "axes.AccessAttempt": "failed logins per username and address: superusers unlock them",
    "axes.AccessLog": "logins and logouts of every person: superusers only",
    "axes.AccessFailureLog": "failed logins of every person: superusers only",
    "otp_totp.TOTPDevice": "people's authenticator apps: superusers reset a lost one",
    "otp_static.StaticDevice": "people's recovery codes: superusers reset them",
}

#: Custom admin URLs (name suffix) about one row, with the methods they answer: B must
#: get a 404 for A's row.
ADMIN_OBJECT_URLS = {
    "scan": ("post",),
    "test_connection": ("post",),
    "reconcile": ("post",),
    "exports_zip": ("get", "post"),  # a batch's ZIP: the confirmation, then the start
    "status": ("get",),  # an operation's progress, polled by its page
    "download": ("get",),  # an operation's file
    # A subscription's schedule buttons (skip or bring back a cycle, move the next date).
    "schedule_skip": ("get", "post"),
    "schedule_unskip": ("get", "post"),
    "schedule_move": ("get", "post"),
    "address": ("get", "post"),  # a refused parcel's corrected address
    "label": ("get",),  # a parcel's label document (the demo platform's, drawn here)
    "schedule_charge": ("get", "post"),  # charge now
    "photo": ("get",),  # a case's photo (?photo=<id>), streamed after checking the case
}
#: Custom admin URLs about a batch that another app's admin serves (the carriers' "Create
#: labels" and "Print labels", linked from the batch's page), with their methods: B must get
#: a 404 for A's batch.
ADMIN_BATCH_URLS = {"create_labels": ("get", "post"), "print_labels": ("get",)}
#: Custom admin URLs not about one row: checked for A's data by `admin_page_checks`.
ADMIN_OTHER_URLS = {"report"}

#: Create routes whose input names no other row: B's create makes B's row, never A's.
CREATES_WITHOUT_REFERENCES = {
    "POST api/v1/customers/": "a customer's fields and addresses (ids read-only), no foreign id",
}

#: Bodies that would be valid for the action on A's row (so a missing scope would write).
WRITE_BODIES = {
    "customers": {"email": "hacked@example.com", "first_name": "Hacked", "language": "fr"},
    "products": {"sku": "HACKED", "name": "Hacked", "unit_price": "1.00"},
    "shipments": {"carrier": "Hacked", "tracking_number": "HACKED"},
    "preferences": {"zq_a_grind": "fine"},
    "cancel": {"reason": "hacked"},
    "reject": {"reason": "hacked"},
    "resolve": {"resolution": "none"},
    "reassign": {"assignee": None},
    "notes": {"text": "hacked"},
    "exclude": {"reason": "hacked"},
    "change-schedule": {"billing_period": "week", "billing_interval": 2},
    "skip-cycle": {"cycle": 3},
    "unskip-cycle": {"cycle": 3},
    "move-next-date": {"at": "2099-01-01T09:00:00Z"},
    "bulk": {"action": "skip", "ids": [1]},
}


# --- The two organizations -----------------------------------------------------------------


def _build(now):
    """A rich organization A (marked `zq_a` everywhere it shows) and a smaller B."""
    from returns.services import return_config_ensure, return_open
    from satisfaction.services import customer_opt_out
    from subscriptions.services import subscription_pause

    a = OrganizationFactory(name="Zq_a Roastery", slug="zq-a-roastery")
    b = OrganizationFactory(name="Other Tea Co", slug="other-tea")
    world = SimpleNamespace(a=a, b=b, now=now)
    for org in (a, b):
        billing_settings(org, gateway="test")
        FulfillmentSettings.objects.create(organization=org)
        return_config_ensure(organization=org)

    # A: staff, keys, catalogue, customers, a contract, preferences, subscriptions...
    world.a_admin = member(a, Role.ADMIN, username="zq_a-admin", email="zq_a.admin@example.com")
    world.a_staff = member(a, Role.STAFF, username="zq_a-staff", email="zq_a.staff@example.com")
    _row, world.a_key = api_key_for(a, name="zq_a integration")
    product = ProductFactory(organization=a, sku="ZQ_A-BEANS", name="Zq_a beans")
    world.a_product = product
    world.a_variant = VariantFactory(
        product=ProductFactory(organization=a, sku="ZQ_A-ESP", name="Zq_a espresso"),
        sku="ZQ_A-ESP-250",
        attributes=[{"name": "Zq_a weight", "option": "250 g"}],
    )
    customer = CustomerFactory(organization=a, email="zq_a.ana@example.com", first_name="Zq_ana")
    world.a_address = AddressFactory(customer=customer, name="Zq_a Ana", line1="1 rue Zq_a")
    world.a_contract = ContractFactory(customer=customer, reference="ZQ_A-CT-1", title="Zq_a deal")
    world.a_customer = customer
    preference_field(a, "zq_a_grind", "choice", choices=[("fine", "Zq_a fine")], label="Zq_a grind")
    world.a_reason = ReturnReason.objects.create(
        organization=a, code="zq_a_broken", label="Zq_a broken", position=99
    )
    subscription = SubscriptionFactory(
        customer=customer, status=Subscription.Status.ACTIVE, items=[(product, 2)]
    )
    from preferences.services import preferences_update

    preferences_update(
        subscription=subscription,
        values={"zq_a_grind": "fine"},
        actor=Actor.for_user(world.a_staff),
        source=PreferenceChange.Source.API,
    )
    paused = SubscriptionFactory(
        customer=customer, status=Subscription.Status.ACTIVE, items=[(product, 1)]
    )
    subscription_pause(subscription=paused, actor=Actor.for_user(world.a_staff), reason="zq_a")
    SubscriptionFactory(
        customer=customer, status=Subscription.Status.ACTIVE, items=[(world.a_variant, 1)]
    )
    world.a_subscription = subscription
    # ... a batch with lines and shipments, a case about one, an answered survey.
    boxed = CustomerFactory(organization=a, email="zq_a.box@example.com", first_name="Zq_abox")
    world.a_shipment = delivered_boxes(
        a, delivered_at=now - timedelta(days=1), items=[(product, 1)], customer=boxed
    )[0]
    world.a_line = world.a_shipment.line
    world.a_case = return_open(
        organization=a,
        shipment=world.a_shipment,
        reason="zq_a_broken",
        description="Zq_a: the bag was torn",
        actor=Actor.for_user(world.a_staff),
    )
    surveyed = CustomerFactory(
        organization=a, email="zq_a.survey@example.com", first_name="Zq_asurvey"
    )
    answered_surveys(
        a,
        [3],
        answered_at=now - timedelta(days=1),
        comments=["zq_a: bitter"],
        items=[(product, 1)],
        customer=surveyed,
    )
    customer_opt_out(customer=surveyed, now=now)
    # ... and its shop, with what the sync stores.
    store = WooCommerceStore.objects.create(
        organization=a,
        name="Zq_a shop",
        base_url="https://shop.example/zq_a",
        webhook_secret="zqa-secret",
        consumer_key="ck_zqa",
        consumer_secret="cs_zqa",
    )
    WebhookDelivery.objects.create(
        organization=a,
        store=store,
        topic="customer.created",
        resource="customer",
        event="created",
        body=b'{"id": 7, "email": "zq_a.woo@example.com"}',
        body_sha256="0" * 64,
        status="failed",
        error="zq_a failure",
        woo_id=7,
    )
    WooMapping.objects.create(
        organization=a, store=store, resource="customer", woo_id=7, object_id=customer.pk
    )
    WooOrder.objects.create(
        organization=a, store=store, woo_id=8, number="ZQ_A-8", customer=customer, currency="EUR"
    )
    # ... and a long operation that left a file.
    Operation.objects.create(
        organization=a,
        kind=Operation.Kind.BATCH_EXPORT,
        subject="Zq_a batch",
        status=Operation.Status.SUCCEEDED,
        result_name="zq_a.zip",
        result_content_type="application/zip",
        result=b"zq_a",
    )

    # ... and its carrier account, with the parcel of its first shipment's box.
    account = CarrierAccount.objects.create(
        organization=a,
        public_key="zq_a-public",
        secret_key="zq_a-secret",
        shipping_method="zq_a:home",
    )
    CountryShippingMethod.objects.create(
        organization=a, account=account, country="BE", shipping_method="zq_a:be"
    )
    first = Shipment.objects.filter(organization=a).order_by("pk").first()
    Parcel.objects.create(
        organization=a,
        account=account,
        batch_id=first.batch_id,
        line_id=first.line_id,
        reference="zq_a-1",
        state=Parcel.State.LABELLED,
        platform_parcel_id="383700001",  # its label: `labels_platform` below
        tracking_number="ZQ_A-TRACK",
        tracking_url="https://tracking.example/zq_a",
        carrier="Zq_a post",
    )
    # ... and a tracking status its webhook receiver (/webhooks/carriers/<token>/, outside
    # the API: a signed platform's, reached by the account's unguessable token) stored.
    CarrierDelivery.objects.create(
        organization=a,
        account=account,
        parcel=Parcel.objects.get(account=account),
        body=b'{"action": "parcel_status_changed", "parcel": {"order_number": "zq_a"}}',
        body_sha256="0" * 64,
        status="processed",
        carrier_status="11",
        carrier_status_message="Zq_a delivered",
        note="zq_a note",
    )

    # ... and its subscribers' portal: settings, a sign-in request and a signed-in device.
    from portal.services import (
        portal_session_start,
        portal_settings_ensure,
        portal_settings_update,
        sign_in_request,
    )

    portal_settings_ensure(organization=b)  # (made when B's admin first opens the list)
    portal_settings_update(organization=a, actor=Actor.for_user(world.a_admin), name="Zq_a home")
    sign_in_request(organization=a, email="zq_a.ana@example.com", client="203.0.113.9", now=now)
    portal_session_start(customer=customer, now=now)

    # B: its own admin, key and a little of everything, so its lists are not empty.
    world.b_admin = member(b, Role.ADMIN, username="tea-admin")
    _row, world.b_key = api_key_for(b, name="tea integration")
    world.b_product = ProductFactory(organization=b, sku="TEA-1", name="Sencha")
    world.b_customer = CustomerFactory(organization=b, email="bo@tea.example")
    AddressFactory(customer=world.b_customer)
    world.b_subscription = SubscriptionFactory(
        customer=world.b_customer,
        status=Subscription.Status.ACTIVE,
        items=[(world.b_product, 1)],
    )
    world.b_shipment = delivered_boxes(
        b, delivered_at=now - timedelta(days=1), items=[(world.b_product, 1)]
    )[0]
    world.b_case = return_open(
        organization=b, shipment=world.b_shipment, reason="damaged", actor=Actor.system()
    )
    world.b_shipment_free = delivered_boxes(
        b, delivered_at=now - timedelta(days=2), items=[(world.b_product, 1)]
    )[0]
    answered_surveys(b, [10], answered_at=now - timedelta(days=1))
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Both organizations, built once and rolled back after the module's tests.

    Each test runs in its own savepoint inside this transaction, so a write that
    leaked in one test cannot hide or cause a failure in another.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build(timezone.now())
        transaction.set_rollback(True)


def api_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


# --- What the database holds ---------------------------------------------------------------


def tenant_models():
    """Every model with rows of an organization (its `organization`), and Organization."""
    found = [Organization, Membership]
    for model in apps.get_models():
        if model in found:
            continue
        if any(f.name == "organization" and f.is_relation for f in model._meta.fields):
            found.append(model)
    return found


def snapshot():
    """A digest of every tenant table's rows: equal before and after means nothing was written.

    One query (a digest per table) keeps the hundreds of snapshots of the sweep cheap.
    """
    parts, labels = [], []
    for model in tenant_models():
        opts = model._meta
        table, pk = (
            connection.ops.quote_name(opts.db_table),
            connection.ops.quote_name(opts.pk.column),
        )
        # Identifiers from the models' own metadata, quoted: nothing from input.
        parts.append(
            "SELECT %s, md5(coalesce(string_agg(t::text, '|' "  # noqa: S608
            f"ORDER BY t.{pk}), '')) FROM {table} t"
        )
        labels.append(opts.label)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), labels)
        return dict(cursor.fetchall())


def changes(before, after):
    return sorted(label for label in before if before[label] != after[label])


def rows_of(model, organization):
    if model is Organization:
        return Organization.objects.filter(pk=organization.pk)
    return model._default_manager.filter(organization=organization)


def leaked_text(response, echoed=()) -> bool:
    """Whether A's marked data show in the answer (besides what B itself sent)."""
    text = response.content.decode(errors="replace")
    for sent in echoed:
        text = text.replace(sent, "")
    return MARKER in text.lower()


# --- The API routes ------------------------------------------------------------------------

GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _template(raw: str) -> str:
    """`api/v1/^customers/(?P<pk>[^/.]+)/?$` -> `api/v1/customers/{pk}/`."""
    path = GROUP.sub(lambda m: "{" + m.group(1) + "}", raw)
    path = path.replace("^", "").replace("$", "").replace("/?", "/")
    return path if path.endswith("/") else path + "/"


def api_routes():
    """(template, view set class, {method: action}) of every address under /api/."""
    routes, untenanted = [], []
    for raw, pattern in _walk(get_resolver().url_patterns):
        if not raw.lstrip("^").startswith("api/"):
            continue
        cls = getattr(pattern.callback, "cls", None)
        actions = getattr(pattern.callback, "actions", None)
        template = _template(raw)
        if actions is None:
            untenanted.append(template)
            continue
        # DRF adds "head" to a view set's shared actions on its first GET: HEAD is GET.
        methods = {method: action for method, action in actions.items() if method != "head"}
        routes.append((template, cls, methods))
    return routes, untenanted


def a_row_of(world, model):
    return rows_of(model, world.a).order_by("pk").first()


def reference_plans(world):
    """Create routes (and B's own rows' actions) that name rows by id, with A's ids.

    route -> [(what, path, body, expected status)]. 400 is a field error (an
    unknown id); 404 where the README documents it (batch lines to prepare).
    """
    b_sub, b_case = world.b_subscription, world.b_case
    b_items = [{"product": world.b_product.pk, "quantity": 1}]
    a_items = [{"product": world.a_product.pk, "quantity": 1}]
    a_variant_items = [{"variant": world.a_variant.pk, "quantity": 1}]
    a_variant_id = [{"id": world.a_variant.pk, "sku": "HACKED-V", "unit_price": "1.00"}]
    return {
        "POST api/v1/products/": [
            (
                "A's variant id among the variants",
                None,
                {"sku": "HACKED", "name": "Hacked", "unit_price": "1.00", "variants": a_variant_id},
                400,
            ),
        ],
        "PATCH api/v1/products/{pk}/": [
            (
                "A's variant id among B's product's variants",
                f"/api/v1/products/{world.b_product.pk}/",
                {"variants": a_variant_id},
                400,
            ),
        ],
        "POST api/v1/subscriptions/": [
            ("A's customer", None, {"customer": world.a_customer.pk, "items": b_items}, 400),
            (
                "A's product",
                None,
                {"customer": world.b_customer.pk, "items": a_items},
                400,
            ),
            (
                "A's variant",
                None,
                {"customer": world.b_customer.pk, "items": a_variant_items},
                400,
            ),
            (
                "A's address",
                None,
                {
                    "customer": world.b_customer.pk,
                    "items": b_items,
                    "shipping_address": world.a_address.pk,
                },
                400,
            ),
            (
                "A's contract",
                None,
                {
                    "customer": world.b_customer.pk,
                    "items": b_items,
                    "contract": world.a_contract.pk,
                },
                400,
            ),
        ],
        "POST api/v1/returns/": [
            ("A's shipment", None, {"shipment": world.a_shipment.pk, "reason": "damaged"}, 400),
            (
                "A's reason code",
                None,
                {"shipment": world.b_shipment_free.pk, "reason": world.a_reason.code},
                400,
            ),
            (
                "A's product in the items",
                None,
                {"shipment": world.b_shipment_free.pk, "reason": "damaged", "items": a_items},
                400,
            ),
            (
                "A's variant in the items",
                None,
                {
                    "shipment": world.b_shipment_free.pk,
                    "reason": "damaged",
                    "items": a_variant_items,
                },
                400,
            ),
            (
                "A's staff as assignee",
                None,
                {
                    "shipment": world.b_shipment_free.pk,
                    "reason": "damaged",
                    "assignee": world.a_staff.pk,
                },
                400,
            ),
        ],
        "POST api/v1/batch-lines/prepare/": [
            ("A's line id", None, {"lines": [world.a_line.pk]}, 404),
            ("A's line code", None, {"codes": [line_code(world.a_line.pk)]}, 404),
        ],
        # Bulk actions name subscriptions by id: A's are refused as not found (checked
        # unwritten by tests/subscriptions/test_bulk.py), and A's catalog is a 400.
        "POST api/v1/subscriptions/bulk/": [
            (
                "A's product to swap on B's subscription",
                None,
                {
                    "action": "swap",
                    "ids": [b_sub.pk],
                    "from_product": world.a_product.pk,
                    "to_product": world.b_product.pk,
                },
                400,
            ),
            (
                "A's variant as the replacement on B's subscription",
                None,
                {
                    "action": "swap",
                    "ids": [b_sub.pk],
                    "from_product": world.b_product.pk,
                    "to_variant": world.a_variant.pk,
                },
                400,
            ),
        ],
        # Actions on B's own rows naming A's rows.
        "POST api/v1/subscriptions/{pk}/change-items/": [
            (
                "A's product on B's subscription",
                f"/api/v1/subscriptions/{b_sub.pk}/change-items/",
                {"items": a_items},
                400,
            ),
            (
                "A's variant on B's subscription",
                f"/api/v1/subscriptions/{b_sub.pk}/change-items/",
                {"items": a_variant_items},
                400,
            ),
        ],
        "POST api/v1/returns/{pk}/reassign/": [
            (
                "A's staff on B's case",
                f"/api/v1/returns/{b_case.pk}/reassign/",
                {"assignee": world.a_staff.pk},
                400,
            ),
        ],
        "PATCH api/v1/customers/{pk}/": [
            (
                "A's address id in B's customer's addresses",
                f"/api/v1/customers/{world.b_customer.pk}/",
                {
                    "addresses": [
                        {
                            "id": world.a_address.pk,
                            "kind": "shipping",
                            "name": "Hacked",
                            "line1": "1 hacked street",
                            "postcode": "75001",
                            "city": "Paris",
                            "country": "FR",
                        }
                    ]
                },
                200,  # the id is read-only: B's customer gets a new address, A's is untouched
            ),
        ],
    }


def _route_key(method, template):
    return f"{method.upper()} {template}"


def test_every_api_route_is_covered(world):
    routes, untenanted = api_routes()
    plans = reference_plans(world)
    uncovered = [
        t for t in untenanted if t not in API_WITHOUT_TENANT_ROWS and t not in API_SWEPT_APART
    ]
    for template, cls, actions in routes:
        params = GROUP.findall(template) or re.findall(r"\{(\w+)\}", template)
        model = getattr(cls, "model", None)
        for method in actions:
            key = _route_key(method, template)
            if set(params) - {"pk"}:
                uncovered.append(f"{key}: unknown path parameter(s) {params}")
            elif model is None:
                uncovered.append(f"{key}: its view names no `model`")
            elif params and a_row_of(world, model) is None:
                uncovered.append(f"{key}: no row of {model._meta.label} in A")
            elif (
                not params
                and method != "get"
                and key not in {**plans, **CREATES_WITHOUT_REFERENCES}
            ):
                uncovered.append(f"{key}: a create route without a reference plan")
    assert not uncovered, "Routes the isolation sweep cannot cover:\n" + "\n".join(uncovered)
    assert len(routes) >= 40  # the resolver walk found the view sets


def _result_ids(body):
    if isinstance(body, dict) and "results" in body:
        body = body["results"]
    if isinstance(body, list):
        return [row["id"] for row in body if isinstance(row, dict) and "id" in row]
    return []


def test_b_lists_none_of_as_rows(world):
    client = api_client(world.b_key)
    failures, checked = [], []
    for template, cls, actions in api_routes()[0]:
        if "{" in template or "get" not in actions:
            continue
        key = _route_key("get", template)
        response = client.get("/" + template)
        checked.append(key)
        if response.status_code != 200:
            failures.append(f"{key}: {response.status_code}")
            continue
        ids = _result_ids(response.json())
        b_ids = set(rows_of(cls.model, world.b).values_list("pk", flat=True))
        if set(ids) - b_ids:
            failures.append(f"{key}: ids not B's {sorted(set(ids) - b_ids)}")
        if leaked_text(response):
            failures.append(f"{key}: A's data in the body")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 9


@pytest.fixture
def labels_platform():
    """The carrier platform's label documents (A's `GET /batches/{id}/labels.pdf`, the
    control of the detail routes), faked at the HTTP boundary."""
    with FakeSendcloud(public_key="zq_a-public", secret_key="zq_a-secret") as fake:
        fake.shipments["zq_a-1"] = {
            "order_number": "zq_a",
            "parcels": [{"id": 383700001, "documents": [{"type": "label"}]}],
        }
        yield fake


def test_b_gets_404_for_as_row_on_every_detail_route_and_changes_nothing(world, labels_platform):
    mine, theirs = api_client(world.a_key), api_client(world.b_key)
    failures, checked = [], []
    for template, cls, actions in api_routes()[0]:
        if "{pk}" not in template:
            continue
        row = a_row_of(world, cls.model)
        path = "/" + template.format(pk=row.pk)
        for method in actions:
            key = _route_key(method, template)
            checked.append(key)
            if method == "get":
                control = mine.get(path)
                if control.status_code != 200:
                    failures.append(f"{key}: A's own key gets {control.status_code} (bad row?)")
                response = theirs.get(path)
            else:
                action = template.rstrip("/").rsplit("/", 1)[-1]
                body = WRITE_BODIES.get(action, WRITE_BODIES.get(template.split("/")[2], {}))
                before = snapshot()
                response = getattr(theirs, method)(path, body, format="json")
                written = changes(before, snapshot())
                if written:
                    failures.append(f"{key}: wrote {written}")
            if response.status_code != 404:
                failures.append(f"{key}: {response.status_code}, not 404")
            elif response.json().get("message") is None or leaked_text(response):
                failures.append(f"{key}: 404 not in the error shape, or with A's data")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 40


def test_b_cannot_reference_as_rows_in_its_writes(world):
    client = api_client(world.b_key)
    failures = []
    address_before = {f: getattr(world.a_address, f) for f in ("name", "line1", "city")}
    for key, cases in reference_plans(world).items():
        method, template = key.split(" ", 1)
        for what, path, body, expected in cases:
            before = snapshot()
            response = getattr(client, method.lower())(path or "/" + template, body, format="json")
            written = changes(before, snapshot())
            if response.status_code != expected:
                failures.append(f"{key} with {what}: {response.status_code}, not {expected}")
            if expected != 200 and written:
                failures.append(f"{key} with {what}: wrote {written}")
            if leaked_text(response, echoed=[world.a_reason.code]):
                failures.append(f"{key} with {what}: A's data in the answer")
    world.a_address.refresh_from_db()
    assert {f: getattr(world.a_address, f) for f in address_before} == address_before
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "params",
    [
        {"action": "pause"},
        {"action": "skip"},
        {"action": "move-next-date", "at": "2099-01-01T09:00:00Z"},
    ],
)
def test_bs_bulk_actions_find_none_of_as_subscriptions_and_change_nothing(world, params):
    # A bulk action answers per id: A's subscriptions are "not found", never read further.
    a_ids = list(rows_of(Subscription, world.a).values_list("pk", flat=True))
    before = snapshot()

    response = api_client(world.b_key).post(
        "/api/v1/subscriptions/bulk/", {**params, "ids": a_ids}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["done"] == []
    assert {row["reason"] for row in response.json()["refused"]} == {"Not found."}
    assert not changes(before, snapshot())
    assert not leaked_text(response)


# --- The admin -----------------------------------------------------------------------------

STANDARD_ADMIN_URLS = {"changelist", "add", "history", "delete", "change"}


def _organization_lookup(model_admin):
    if isinstance(model_admin, TenantAdminMixin):
        field = model_admin.organization_field
        return "pk" if field == "pk" else f"{field}_id"
    return None


def admin_a_rows(world, model_admin):
    lookup = _organization_lookup(model_admin)
    if lookup is None:
        return None
    return model_admin.model._default_manager.filter(**{lookup: world.a.pk})


def _url_suffix(model_admin, name):
    opts = model_admin.opts
    return (name or "").removeprefix(f"{opts.app_label}_{opts.model_name}_")


def _admin_name(model_admin, suffix):
    opts = model_admin.opts
    return f"admin:{opts.app_label}_{opts.model_name}_{suffix}"


def test_every_admin_is_covered(world):
    uncovered = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        if label in ADMIN_WITHOUT_TENANT_ROWS:
            continue
        rows = admin_a_rows(world, model_admin)
        if rows is None:
            uncovered.append(f"{label}: not a TenantAdmin (no organization to scope by)")
        elif not rows.exists():
            uncovered.append(f"{label}: no row in A")
        for pattern in model_admin.get_urls():
            suffix = _url_suffix(model_admin, pattern.name)
            known = (
                STANDARD_ADMIN_URLS
                | {"transition"}
                | set(ADMIN_OBJECT_URLS)
                | ADMIN_OTHER_URLS
                | set(ADMIN_BATCH_URLS)
            )
            if pattern.name and suffix not in known:
                uncovered.append(f"{label}: custom admin URL {pattern.name} unknown to the sweep")
    assert not uncovered, "Admins the isolation sweep cannot cover:\n" + "\n".join(uncovered)


def test_bs_admin_sees_none_of_as_rows_in_any_changelist(world):
    client = logged_in(world.b_admin)
    failures = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        response = client.get(reverse(_admin_name(model_admin, "changelist")))
        if label in ADMIN_WITHOUT_TENANT_ROWS:
            if response.status_code != 403:
                failures.append(f"{label} changelist: {response.status_code}, not 403")
            continue
        if response.status_code != 200:
            failures.append(f"{label} changelist: {response.status_code}")
            continue
        a_pks = set(admin_a_rows(world, model_admin).values_list("pk", flat=True))
        listed = set(response.context["cl"].queryset.values_list("pk", flat=True))
        if listed & a_pks:
            failures.append(f"{label} changelist: lists A's rows {sorted(listed & a_pks)}")
        html = response.content.decode()
        for pk in a_pks:
            if reverse(_admin_name(model_admin, "change"), args=[pk]) in html:
                failures.append(f"{label} changelist: links A's row {pk}")
        if MARKER in html.lower():
            failures.append(f"{label} changelist: A's data on the page")
    assert not failures, "\n".join(failures)


def test_bs_admin_is_offered_none_of_as_rows_on_any_add_page(world):
    # The add forms' choices (customer, product, subscription...) are B's rows only.
    client = logged_in(world.b_admin)
    failures = []
    for model, model_admin in admin.site._registry.items():
        response = client.get(reverse(_admin_name(model_admin, "add")))
        if response.status_code not in (200, 403):
            failures.append(f"{model._meta.label} add: {response.status_code}")
        if leaked_text(response):
            failures.append(f"{model._meta.label} add: A's rows offered")
    assert not failures, "\n".join(failures)


def _object_urls(model_admin, pk, batch_pk):
    """(what, url, methods) of every admin URL about one row, A's `pk` (or A's batch)."""
    urls = [
        ("change", reverse(_admin_name(model_admin, "change"), args=[pk]), ("get", "post")),
        ("history", reverse(_admin_name(model_admin, "history"), args=[pk]), ("get",)),
        ("delete", reverse(_admin_name(model_admin, "delete"), args=[pk]), ("get", "post")),
    ]
    for pattern in model_admin.get_urls():
        suffix = _url_suffix(model_admin, pattern.name)
        if suffix == "transition":
            for action in model_admin.admin_actions():
                url = reverse(pattern_name := _admin_name(model_admin, suffix), args=[pk, action])
                urls.append((f"{pattern_name.split(':')[1]} {action}", url, ("get", "post")))
        elif suffix in ADMIN_OBJECT_URLS:
            url = reverse(_admin_name(model_admin, suffix), args=[pk])
            urls.append((suffix, url, ADMIN_OBJECT_URLS[suffix]))
        elif suffix in ADMIN_BATCH_URLS:
            url = reverse(_admin_name(model_admin, suffix), args=[batch_pk])
            urls.append((suffix, url, ADMIN_BATCH_URLS[suffix]))
    return urls


#: A form post as the admin's pages send them (more fields than any one form needs).
ADMIN_POST = {
    "post": "yes",
    "name": "Hacked",
    "email": "hacked@example.com",
    "reason": "hacked",
    "text": "hacked",
    "note": "hacked",
    "role": "viewer",
    "codes": "1",
    "cycle": "3",
}


def test_bs_admin_gets_404_on_every_page_of_as_rows_and_changes_nothing(world):
    client = logged_in(world.b_admin)
    failures, checked = [], 0
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        if label in ADMIN_WITHOUT_TENANT_ROWS:
            continue
        row = admin_a_rows(world, model_admin).order_by("pk").first()
        for what, url, methods in _object_urls(model_admin, row.pk, world.a_line.batch_id):
            for method in methods:
                checked += 1
                before = snapshot() if method == "post" else None
                response = getattr(client, method)(url, ADMIN_POST if method == "post" else None)
                if response.status_code != 404:
                    failures.append(f"{label} {what} {method.upper()}: {response.status_code}")
                if leaked_text(response):
                    failures.append(f"{label} {what} {method.upper()}: A's data on the page")
                if before is not None and (written := changes(before, snapshot())):
                    failures.append(f"{label} {what} POST: wrote {written}")
    assert not failures, "\n".join(failures)
    assert checked >= 100


def test_bs_admin_runs_no_changelist_action_on_as_rows(world):
    client = logged_in(world.b_admin)
    failures, checked = [], []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        if label in ADMIN_WITHOUT_TENANT_ROWS:
            continue
        a_pks = list(admin_a_rows(world, model_admin).values_list("pk", flat=True))
        for _function, name, _description in model_admin._get_base_actions():
            checked.append(f"{label} {name}")
            before = snapshot()
            response = client.post(
                reverse(_admin_name(model_admin, "changelist")),
                {"action": name, "_selected_action": a_pks, "index": 0, **ADMIN_POST},
            )
            if written := changes(before, snapshot()):
                failures.append(f"{label} action {name}: wrote {written}")
            if response.status_code not in (200, 302, 403):
                failures.append(f"{label} action {name}: {response.status_code}")
            if leaked_text(response):
                failures.append(f"{label} action {name}: A's data on the page")
    assert not failures, "\n".join(failures)
    assert len(checked) >= 10


def test_bs_admin_sees_nothing_of_as_on_their_own_two_factor_pages(world):
    # The two-factor page (signin) is about the person only: A's admin has an app set up,
    # B's admin sees their own state and nothing of A's people or rows.
    from tests.signin.conftest import enrol

    enrol(world.a_admin)
    client = logged_in(world.b_admin)
    failures = []
    for method, data in (("get", None), ("post", {"action": "start"})):
        response = getattr(client, method)(reverse("signin:two_factor"), data)
        if response.status_code != 200 or leaked_text(response):
            failures.append(f"two-factor page ({method}): {response.status_code}, or A's data")
    # ...and asking for new recovery codes touches nobody's (B has none: the page again)
    response = client.post(reverse("signin:two_factor"), {"action": "renew", "code": "000000"})
    if response.status_code != 200 or leaked_text(response):
        failures.append(f"two-factor renew: {response.status_code}, or A's data")
    assert not failures, "\n".join(failures)
    assert world.a_admin.totpdevice_set.filter(confirmed=True).count() == 1


def test_bs_admin_is_offered_none_of_as_rows_by_autocomplete(world):
    client = logged_in(world.b_admin)
    failures, checked = [], []
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            related = model._meta.get_field(field_name).related_model
            checked.append(f"{model._meta.label}.{field_name}")
            response = client.get(
                reverse("admin:autocomplete"),
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field_name,
                    "term": "",
                },
            )
            ids = {int(r["id"]) for r in response.json()["results"]}
            a_ids = set(rows_of(related, world.a).values_list("pk", flat=True))
            if response.status_code != 200 or ids & a_ids or leaked_text(response):
                failures.append(f"{checked[-1]}: {response.status_code}, A's {ids & a_ids}")
    assert not failures, "\n".join(failures)
    assert checked


def test_bs_admin_cannot_open_as_figures_on_custom_pages(world):
    client = logged_in(world.b_admin)
    failures = []
    # The dashboard, even when asked for A's
    for query in ({}, {"organization": world.a.pk}):
        response = client.get(reverse("admin:index"), query, follow=True)
        if response.status_code != 200 or leaked_text(response):
            failures.append(f"dashboard {query}: A's figures")
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            suffix = _url_suffix(model_admin, pattern.name)
            if suffix not in ADMIN_OTHER_URLS:
                continue
            url = reverse(_admin_name(model_admin, suffix))
            for query in ({}, {"organization": world.a.pk}):
                response = client.get(url, query)
                if response.status_code not in (200, 404) or leaked_text(response):
                    failures.append(f"{model._meta.label} {suffix} {query}: A's figures")
    assert not failures, "\n".join(failures)


def test_b_finds_none_of_as_rows_by_searching_for_them(world):
    """The search box (admin and API) with each of A's identifiers: nothing, never a redirect."""
    texts = [
        "zq_a",
        world.a_customer.email,
        world.a_line.code,
        f"#{world.a_case.pk}",
        f"#{world.a_subscription.pk}",
        "ZQ_A-8",
    ]
    world.a_shipment.tracking_number = "ZQA0000000001"
    world.a_shipment.save(update_fields=["tracking_number"])
    texts.append(world.a_shipment.tracking_number)
    admin_client, api = logged_in(world.b_admin), api_client(world.b_key)
    failures = []
    for text in texts:
        page = admin_client.get(reverse("admin:search"), {"q": text})
        echoed = (text, urlencode({"q": text}))  # the box, and the language switch's return
        if page.status_code != 200 or page.context["results"] or leaked_text(page, echoed):
            failures.append(f"admin search {text!r}: {page.status_code}")
        found = api.get("/api/v1/search/", {"q": text})
        if found.status_code != 200 or found.json() != {"results": []}:
            failures.append(f"API search {text!r}: {found.status_code} {found.content[:200]}")
    # A's customer's whole story (an admin site page, not a model admin's): 404.
    story = admin_client.get(reverse("admin:customer_story", args=[world.a_customer.pk]))
    if story.status_code != 404 or leaked_text(story):
        failures.append(f"customer page: {story.status_code}")
    assert not failures, "\n".join(failures)
    # The control: A finds its own.
    assert api_client(world.a_key).get("/api/v1/search/", {"q": "zq_a"}).json()["results"]


@pytest.mark.parametrize(
    "kind",
    [
        "pick-list.csv",
        "packing-slips.html",
        "production-plan.csv",
        "pick-list.pdf",
        "packing-slips.pdf",
        "production-plan.pdf",
    ],
)
def test_bs_staff_cannot_export_as_batch(world, kind):
    response = logged_in(world.b_admin).get(
        reverse("fulfillment:batch-export", args=[world.a_line.batch_id, kind])
    )

    assert response.status_code == 404
    assert not leaked_text(response)


def test_the_sweep_sees_as_rows_through_as_own_access(world):
    """The control: A's key and A's admin do reach the rows B is refused."""
    client = api_client(world.a_key)
    assert client.get(f"/api/v1/returns/{world.a_case.pk}/").status_code == 200
    assert MARKER in client.get("/api/v1/customers/").content.decode().lower()
    response = logged_in(world.a_admin).get(
        reverse("admin:returns_returnrequest_change", args=[world.a_case.pk])
    )
    assert response.status_code == 200
    assert ReturnRequest.objects.filter(organization=world.a).count() == 1
    assert BatchLine.objects.filter(organization=world.a).exists()
    assert Shipment.objects.filter(organization=world.a).exists()
