"""The WooCommerce pages of the back office, through the real admin URLs, as staff use them.

Organization A ("Purea Café") owns the `store` fixture's shop; organization B ("Other
Tea Co") is someone else's. The shop's secrets must never reach a page, and B's shop,
deliveries, mappings and orders must never be seen (or reached) by A's staff.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from crm.models import Customer, Membership, Product, Variant
from operations.models import Operation
from tests.conftest import wait_until
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    ProductFactory,
    SubscriptionFactory,
)
from tests.helpers import messages_of
from tests.woocommerce.conftest import SECRET, compact, sample
from woocommerce.models import (
    WebhookDelivery,
    WooCommerceStore,
    WooMapping,
    WooOrder,
    WooRelatedOrder,
)
from woocommerce.tasks import reconcile_store

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = WebhookDelivery.Status
STORES = "/admin/woocommerce/woocommercestore/"
DELIVERIES = "/admin/woocommerce/webhookdelivery/"
MAPPINGS = "/admin/woocommerce/woomapping/"
ORDERS = "/admin/woocommerce/wooorder/"
SUBSCRIPTIONS_ENDPOINT = "https://shop.example.com/wp-json/wc/v3/subscriptions"
PREVIOUS_SECRET = "old-webhook-secret-4242"
CONSUMER_KEY = "ck_0123456789abcdef0123456789abcdef"
CONSUMER_SECRET = "cs_fedcba9876543210fedcba9876543210"


def change_url(base, obj):
    return f"{base}{obj.pk}/change/"


def assert_no_secret(page: str, secrets) -> None:
    for secret in secrets:
        if secret:
            assert secret not in page
            assert escape(secret) not in page


def delivery(store, topic="customer.updated", payload=None, **fields):
    """A stored delivery of `store`, as the receiver would have kept it."""
    payload = sample("customer") if payload is None else payload
    body = fields.pop("body", None) or compact(payload)
    resource, _, event = topic.partition(".")
    return WebhookDelivery.objects.create(
        organization_id=store.organization_id,
        store=store,
        topic=topic,
        resource=resource,
        event=event,
        headers={"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": "d-1"},
        body=body,
        body_sha256=f"{topic}-{WebhookDelivery.objects.count()}-{len(body)}",
        **fields,
    )


def shop_form(store, **changes):
    """The shop's change form as the browser posts it, every secret input left empty."""
    data = {
        "name": store.name,
        "base_url": store.base_url,
        "active": "on" if store.active else "",
        "weight_unit": store.weight_unit,
        "webhook_secret": "",
        "previous_webhook_secret": "",
        "consumer_key": "",
        "consumer_secret": "",
        "keep_replaced_secret": "on",
        "clear_previous_webhook_secret": "",
        # The preference mappings' inline, with no row changed.
        "preference_mappings-TOTAL_FORMS": "0",
        "preference_mappings-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


@pytest.fixture
def shop(store):
    """The store fixture with every secret set, long enough to be recognized in a page."""
    store.previous_webhook_secret = PREVIOUS_SECRET
    store.consumer_key = CONSUMER_KEY
    store.consumer_secret = CONSUMER_SECRET
    store.save()
    return WooCommerceStore.objects.get(pk=store.pk)


@pytest.fixture
def store_b(org_b):
    return WooCommerceStore.objects.create(
        organization=org_b,
        name="Tea shop B",
        base_url="https://tea.example.com",
        webhook_secret="tea-secret-b-0001",
        consumer_key="ck_tea_b",
        consumer_secret="cs_tea_b",
    )


# --- The shop's page --------------------------------------------------------------------


def test_the_shop_page_shows_the_absolute_webhook_url_and_no_secret(
    admin_client_a_administrator, shop
):
    response = admin_client_a_administrator.get(change_url(STORES, shop))

    page = response.text
    assert response.status_code == 200
    assert f"http://testserver{shop.webhook_path()}" in page
    assert "WP REST API Integration v3" in page
    assert "subscription.*" in page
    assert_no_secret(page, [SECRET, PREVIOUS_SECRET, CONSUMER_KEY, CONSUMER_SECRET])
    # Every secret input is empty, and says the secret is set.
    for name in ("webhook_secret", "previous_webhook_secret", "consumer_key", "consumer_secret"):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert 'type="password"' in field
        assert "value=" not in field
    assert page.count("Currently set: leave empty to keep it.") == 4
    assert 'name="clear_previous_webhook_secret"' in page


def test_the_page_says_which_secrets_are_not_set(admin_client_a_administrator, store):
    store.consumer_key = store.consumer_secret = ""
    store.save()

    page = admin_client_a_administrator.get(change_url(STORES, store)).text

    assert page.count("Currently set: leave empty to keep it.") == 1  # the webhook secret
    assert page.count("Currently not set.") == 3


def test_a_viewer_reads_the_shop_without_secrets_or_buttons(admin_client_a_viewer, shop):
    response = admin_client_a_viewer.get(change_url(STORES, shop))

    page = response.text
    assert response.status_code == 200
    assert f"http://testserver{shop.webhook_path()}" in page
    assert_no_secret(page, [SECRET, PREVIOUS_SECRET, CONSUMER_KEY, CONSUMER_SECRET])
    assert 'name="webhook_secret"' not in page
    assert re.search(r'field-webhook_secret_state">.*?<div class="readonly">set</div>', page, re.S)
    assert 'data-action="test-connection"' not in page
    assert 'data-action="reconcile"' not in page


def test_saving_with_empty_secret_inputs_keeps_the_stored_secrets(
    admin_client_a_administrator, shop
):
    response = admin_client_a_administrator.post(
        change_url(STORES, shop), shop_form(shop, name="Purea boutique")
    )

    assert response.status_code == 302
    saved = WooCommerceStore.objects.get(pk=shop.pk)
    assert saved.name == "Purea boutique"
    assert saved.webhook_secret == SECRET
    assert saved.previous_webhook_secret == PREVIOUS_SECRET
    assert saved.consumer_key == CONSUMER_KEY
    assert saved.consumer_secret == CONSUMER_SECRET


def test_a_new_webhook_secret_keeps_the_replaced_one_until_it_is_cleared(
    admin_client_a_administrator, store
):
    admin_client_a_administrator.post(
        change_url(STORES, store), shop_form(store, webhook_secret="brand-new-secret")
    )

    rotated = WooCommerceStore.objects.get(pk=store.pk)
    assert rotated.webhook_secret == "brand-new-secret"
    assert rotated.previous_webhook_secret == SECRET  # deliveries signed with it still kept
    assert rotated.consumer_key == "ck_test"

    response = admin_client_a_administrator.post(
        change_url(STORES, store), shop_form(store, clear_previous_webhook_secret="on")
    )

    assert response.status_code == 302
    cleared = WooCommerceStore.objects.get(pk=store.pk)
    assert cleared.webhook_secret == "brand-new-secret"
    assert cleared.previous_webhook_secret == ""


def test_a_new_webhook_secret_can_replace_the_old_one_outright(admin_client_a_administrator, store):
    admin_client_a_administrator.post(
        change_url(STORES, store),
        shop_form(store, webhook_secret="brand-new-secret", keep_replaced_secret=""),
    )

    saved = WooCommerceStore.objects.get(pk=store.pk)
    assert saved.webhook_secret == "brand-new-secret"
    assert saved.previous_webhook_secret == ""


def test_a_refused_form_does_not_send_the_typed_secrets_back(admin_client_a_administrator, shop):
    response = admin_client_a_administrator.post(
        change_url(STORES, shop),
        shop_form(
            shop,
            previous_webhook_secret="typed-previous-secret",
            consumer_secret="typed-consumer-secret",
            clear_previous_webhook_secret="on",
        ),
    )

    assert response.status_code == 200
    assert "Either enter a previous webhook secret or clear it, not both." in response.text
    assert_no_secret(response.text, ["typed-previous-secret", "typed-consumer-secret", SECRET])
    unchanged = WooCommerceStore.objects.get(pk=shop.pk)
    assert unchanged.previous_webhook_secret == PREVIOUS_SECRET
    assert unchanged.consumer_secret == CONSUMER_SECRET


def test_adding_a_shop_stores_its_secrets_and_gives_its_webhook_url(
    admin_client_a_administrator, org_a
):
    response = admin_client_a_administrator.post(
        f"{STORES}add/",
        {
            "organization": org_a.pk,
            "name": "New shop",
            "base_url": "https://new.example.com",
            "active": "on",
            "weight_unit": "kg",
            "webhook_secret": "new-shop-secret",
            "consumer_key": "ck_new",
            "consumer_secret": "cs_new",
        },
        follow=True,
    )

    created = WooCommerceStore.objects.get(name="New shop")
    assert created.organization == org_a
    assert (created.webhook_secret, created.consumer_key) == ("new-shop-secret", "ck_new")
    assert created.previous_webhook_secret == ""
    url = f"http://testserver{created.webhook_path()}"
    assert any(url in message for message in messages_of(response))
    assert_no_secret(response.text, ["new-shop-secret", "cs_new"])


def test_the_list_shows_each_shops_webhook_health(admin_client_a_administrator, store, org_a):
    quiet = WooCommerceStore.objects.create(
        organization=org_a, name="Quiet shop", base_url="https://quiet.example.com"
    )
    for status in (Status.FAILED, Status.FAILED, Status.QUEUED, Status.RECEIVED):
        delivery(store, status=status)
    delivery(store, status=Status.PROCESSED)
    last = delivery(store, status=Status.PROCESSING)

    response = admin_client_a_administrator.get(STORES)

    rows = {row.name: row for row in response.context["cl"].result_list}
    assert rows["Purea shop"].failed_count == 2
    assert rows["Purea shop"].waiting_count == 3
    assert rows["Purea shop"].last_delivery_at == last.received_at
    assert (rows["Quiet shop"].failed_count, rows["Quiet shop"].waiting_count) == (0, 0)
    assert rows["Quiet shop"].last_delivery_at is None
    assert f"{DELIVERIES}?store__id__exact={store.pk}&amp;status__exact=failed" in response.text
    assert quiet.name in response.text


def test_the_shops_list_costs_the_same_queries_for_one_shop_or_five(
    admin_client_a_administrator, org_a, store
):
    delivery(store, status=Status.FAILED)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client_a_administrator.get(STORES).status_code == 200
        return len(captured)

    one = queries()
    for n in range(4):
        other = WooCommerceStore.objects.create(
            organization=org_a, name=f"Shop {n}", base_url=f"https://s{n}.example.com"
        )
        delivery(other, status=Status.QUEUED)

    assert queries() == one


# --- Test connection and reconcile ------------------------------------------------------


@responses.activate
def test_test_connection_says_how_many_subscriptions_the_shop_has(
    admin_client_a_administrator, shop
):
    responses.get(SUBSCRIPTIONS_ENDPOINT, json=[], headers={"X-WP-Total": "42"})

    response = admin_client_a_administrator.post(f"{STORES}{shop.pk}/test-connection/", follow=True)

    assert response.redirect_chain[-1][0] == change_url(STORES, shop)
    assert messages_of(response) == [
        "The connection works: https://shop.example.com answers, with 42 subscriptions."
    ]
    assert_no_secret(response.text, [SECRET, CONSUMER_KEY, CONSUMER_SECRET])


@responses.activate
def test_test_connection_shows_the_shops_refusal(admin_client_a_administrator, shop):
    responses.get(
        SUBSCRIPTIONS_ENDPOINT,
        status=401,
        json={
            "code": "woocommerce_rest_cannot_view",
            "message": "Sorry, you cannot list resources.",
            "data": {"status": 401},
        },
    )

    response = admin_client_a_administrator.post(f"{STORES}{shop.pk}/test-connection/", follow=True)

    [message] = messages_of(response)
    assert message.startswith("The connection test failed: GET subscriptions: HTTP 401")
    assert "woocommerce_rest_cannot_view" in message
    assert 'class="error"' in response.text
    assert_no_secret(response.text, [CONSUMER_KEY, CONSUMER_SECRET])


@responses.activate
def test_a_network_error_is_shown_without_the_credentials_it_carried(
    admin_client_a_administrator, shop
):
    # Over plain HTTP the client signs the URL with OAuth, so a network error's
    # text holds the consumer key.
    shop.base_url = "http://shop.example.com"
    shop.save()
    responses.get(
        "http://shop.example.com/wp-json/wc/v3/subscriptions",
        body=requests.ConnectionError(
            f"cannot reach /subscriptions?oauth_consumer_key={CONSUMER_KEY}&secret="
            f"{CONSUMER_SECRET}"
        ),
    )

    response = admin_client_a_administrator.post(f"{STORES}{shop.pk}/test-connection/", follow=True)

    [message] = messages_of(response)
    assert message == (
        "The connection test failed: GET subscriptions: the shop could not be reached"
    )
    assert_no_secret(response.text, [CONSUMER_KEY, CONSUMER_SECRET])


def test_test_connection_without_credentials_says_so(admin_client_a_administrator, store):
    store.consumer_key = ""
    store.save()

    response = admin_client_a_administrator.post(
        f"{STORES}{store.pk}/test-connection/", follow=True
    )

    assert messages_of(response) == [
        "The connection test failed: Purea shop: no REST API consumer key and secret"
    ]


def test_the_shop_buttons_are_for_its_organizations_administrators(
    admin_client_a_administrator, admin_client_a, admin_client_a_viewer, store
):
    page = admin_client_a_administrator.get(change_url(STORES, store)).text

    assert f'action="{STORES}{store.pk}/test-connection/"' in page
    assert f'action="{STORES}{store.pk}/reconcile/"' in page
    for reader in (admin_client_a, admin_client_a_viewer):  # staff and viewers: no button, and 403
        assert "test-connection" not in reader.get(change_url(STORES, store)).text
        assert reader.post(f"{STORES}{store.pk}/test-connection/").status_code == 403
        assert reader.post(f"{STORES}{store.pk}/reconcile/").status_code == 403
    assert (
        admin_client_a_administrator.get(f"{STORES}{store.pk}/test-connection/").status_code == 405
    )


def test_reconcile_now_queues_the_shops_reconciliation(
    admin_client_a_administrator, store, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(reconcile_store, "apply_async", lambda **kw: sent.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_a_administrator.post(f"{STORES}{store.pk}/reconcile/", follow=True)

    # The task reports its progress on the operation the page shows
    operation = Operation.objects.get()
    assert sent == [{"args": (store.pk,), "kwargs": {"operation_id": operation.pk}}]
    assert response.redirect_chain[-1][0].endswith(f"/operation/{operation.pk}/change/")
    assert messages_of(response) == [
        "A reconciliation of “Purea shop” is queued: everything in the shop will be read, "
        "in the background."
    ]


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"active": False}, "This shop is inactive: activate it first."),
        ({"consumer_secret": ""}, "Enter the shop's REST API consumer key and secret first."),
    ],
)
def test_reconcile_now_refuses_a_shop_it_cannot_read(
    admin_client_a_administrator,
    store,
    monkeypatch,
    django_capture_on_commit_callbacks,
    change,
    refusal,
):
    sent = []
    monkeypatch.setattr(reconcile_store, "apply_async", lambda **kw: sent.append(kw))
    WooCommerceStore.objects.filter(pk=store.pk).update(**change)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_a_administrator.post(f"{STORES}{store.pk}/reconcile/", follow=True)

    assert sent == []
    assert messages_of(response) == [refusal]


# --- Tenancy ----------------------------------------------------------------------------


def test_another_organizations_rows_are_404_and_never_listed(admin_client_for, staff_user_b, shop):
    theirs = delivery(shop, status=Status.FAILED, woo_id=98765)
    mapping = WooMapping.objects.create(
        organization=shop.organization, store=shop, resource="customer", woo_id=98765
    )
    order = WooOrder.objects.create(
        organization=shop.organization, store=shop, woo_id=98765, number="PUREA-ORDER-1"
    )
    client_b = admin_client_for(staff_user_b)

    for base, row in [(STORES, shop), (DELIVERIES, theirs), (MAPPINGS, mapping), (ORDERS, order)]:
        assert client_b.get(change_url(base, row)).status_code == 404
        listing = client_b.get(base)
        assert listing.status_code == 200
        assert list(listing.context["cl"].result_list) == []
    assert client_b.post(f"{STORES}{shop.pk}/test-connection/").status_code == 404
    assert client_b.post(f"{STORES}{shop.pk}/reconcile/").status_code == 404


def test_the_shop_filter_names_only_the_members_shops(admin_client_a, store, store_b, org_a):
    WooCommerceStore.objects.create(
        organization=org_a, name="Second Purea shop", base_url="https://two.example.com"
    )
    delivery(store)
    delivery(store_b)

    page = admin_client_a.get(DELIVERIES).text

    assert "Second Purea shop" in page
    assert "Tea shop B" not in page


# --- Deliveries -------------------------------------------------------------------------


def test_the_deliveries_list_costs_the_same_queries_for_3_or_30(admin_client_a, store, org_a):
    other = WooCommerceStore.objects.create(
        organization=org_a, name="Other shop", base_url="https://other.example.com"
    )

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = admin_client_a.get(DELIVERIES)
        assert response.status_code == 200
        return len(captured), response.context["cl"].result_count

    for n in range(3):
        delivery(store if n % 2 else other, status=Status.FAILED, error=f"boom {n}")
    few, count = queries()
    assert count == 3
    for n in range(27):
        delivery(store if n % 2 else other, status=Status.PROCESSED, woo_id=n)
    many, count = queries()

    assert count == 30
    assert many == few


def test_the_list_shows_each_delivery_at_a_glance(admin_client_a, store):
    delivery(
        store,
        "order.updated",
        woo_id=727,
        status=Status.FAILED,
        attempts=3,
        error="order 727 has no status\nmore detail on a second line",
    )

    response = admin_client_a.get(DELIVERIES)

    page = response.text
    assert "order.updated" in page
    assert ">727<" in page
    assert "order 727 has no status" in page
    assert "more detail on a second line" not in page  # only the error's first line
    assert 'value="reprocess"' in page


@pytest.mark.parametrize("term", ["727", "order.upd", "d-727"])
def test_deliveries_are_found_by_woocommerce_id_delivery_id_or_topic(admin_client_a, store, term):
    wanted = delivery(store, "order.updated", woo_id=727, delivery_id="d-727")
    delivery(store, "customer.created", woo_id=25, delivery_id="d-25")

    response = admin_client_a.get(DELIVERIES, {"q": term})

    assert [row.pk for row in response.context["cl"].result_list] == [wanted.pk]


def test_a_deliverys_page_shows_its_headers_body_and_error(admin_client_a, store):
    failed = delivery(
        store,
        status=Status.FAILED,
        error="customer 25 has no e-mail",
        traceback='Traceback (most recent call last):\n  File "x.py"\nPayloadError: <no e-mail>',
    )

    response = admin_client_a.get(change_url(DELIVERIES, failed))

    page = response.text
    assert response.status_code == 200
    # The body pretty-printed: one key a line, indented.
    assert "\n  &quot;email&quot;: &quot;john.doe@example.com&quot;,\n" in page
    assert "X-WC-Webhook-Delivery-ID" in page
    assert "customer 25 has no e-mail" in page
    assert "PayloadError: &lt;no e-mail&gt;" in page
    assert 'name="_save"' not in page  # read-only
    assert "deletelink" not in page


def test_a_body_that_is_not_json_is_shown_as_received(admin_client_a, store):
    broken = delivery(store, body=b"<html>not json</html>", status=Status.FAILED)

    page = admin_client_a.get(change_url(DELIVERIES, broken)).text

    assert "&lt;html&gt;not json&lt;/html&gt;" in page


def test_nobody_adds_or_deletes_deliveries_by_hand(admin_client_a, store):
    failed = delivery(store, status=Status.FAILED)

    assert admin_client_a.get(f"{DELIVERIES}add/").status_code == 403
    assert admin_client_a.get(f"{DELIVERIES}{failed.pk}/delete/").status_code == 403
    assert (
        admin_client_a.post(change_url(DELIVERIES, failed), {"status": "processed"}).status_code
        == 403
    )


def _reprocess(client, *deliveries):
    return client.post(
        DELIVERIES,
        {"action": "reprocess", "_selected_action": [d.pk for d in deliveries]},
        follow=True,
    )


def test_reprocess_starts_a_failed_delivery_over_and_queues_it(
    admin_client_a, store, django_capture_on_commit_callbacks
):
    failed = delivery(
        store,
        status=Status.FAILED,
        attempts=10,
        error="gave up after 10 attempts",
        traceback="Traceback ...",
        processed_at=timezone.now(),
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _reprocess(admin_client_a, failed)

    assert len(callbacks) == 1  # sent to the broker once the reset is committed
    assert messages_of(response) == ["1 delivery will be processed again."]
    failed.refresh_from_db()
    assert failed.status == Status.QUEUED
    assert failed.attempts == 0
    assert (failed.error, failed.traceback, failed.processed_at) == ("", "", None)
    assert failed.queued_at is not None


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_reprocessed_delivery_is_applied_by_the_worker(
    celery_worker, admin_client_for, staff_user_a, store
):
    failed = delivery(store, "customer.created", status=Status.FAILED, attempts=10, error="gave up")

    response = _reprocess(admin_client_for(staff_user_a), failed)

    assert messages_of(response) == ["1 delivery will be processed again."]
    processed = wait_until(
        lambda: WebhookDelivery.objects.filter(pk=failed.pk, status=Status.PROCESSED).first(),
        timeout=60,
    )
    assert processed is not None, "".join(celery_worker.output[-30:])
    assert processed.attempts == 1
    assert Customer.objects.filter(organization=store.organization, email="john.doe@example.com")


def test_a_viewer_cannot_reprocess(
    admin_client_a_viewer, store, django_capture_on_commit_callbacks
):
    failed = delivery(store, status=Status.FAILED, attempts=10, error="gave up")

    listing = admin_client_a_viewer.get(DELIVERIES)
    with django_capture_on_commit_callbacks(execute=True):
        _reprocess(admin_client_a_viewer, failed)

    assert 'value="reprocess"' not in listing.text
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.error) == (Status.FAILED, 10, "gave up")


def test_reprocess_leaves_the_deliveries_of_an_organization_the_user_only_views(
    admin_client_for, staff_user_a, org_b, store, store_b, django_capture_on_commit_callbacks
):
    MembershipFactory(user=staff_user_a, organization=org_b, role=Role.VIEWER)
    mine = delivery(store, status=Status.FAILED, error="gave up")
    theirs = delivery(store_b, status=Status.FAILED, error="gave up")

    with django_capture_on_commit_callbacks(execute=True):
        response = _reprocess(admin_client_for(staff_user_a), mine, theirs)

    assert messages_of(response) == ["1 delivery will be processed again."]
    assert WebhookDelivery.objects.get(pk=mine.pk).status == Status.QUEUED
    assert WebhookDelivery.objects.get(pk=theirs.pk).status == Status.FAILED


# --- Mappings and orders ----------------------------------------------------------------


def _mappings(store, numbers):
    """One mapping of each resource per number, each with its CRM row."""
    organization = store.organization
    for n in numbers:
        customer = CustomerFactory(organization=organization, email=f"woo{n}@example.com")
        product = ProductFactory(organization=organization, sku=f"WOO-{n}", name=f"Beans {n}")
        subscription = SubscriptionFactory(customer=customer, items=[(product, 1)])
        order = WooOrder.objects.create(
            organization=organization, store=store, woo_id=9000 + n, number=f"N{n}"
        )
        variant = Variant.objects.create(
            organization=organization,
            product=product,
            sku=f"WOO-{n}-1KG",
            attributes=[{"name": "Weight", "option": "1 kg"}],
            unit_price=1,
        )
        for resource, row in [
            ("customer", customer),
            ("product", product),
            ("variation", variant),
            ("subscription", subscription),
            ("order", order),
        ]:
            WooMapping.objects.create(
                organization=organization,
                store=store,
                resource=resource,
                woo_id=1000 * n + len(resource),
                object_id=row.pk,
                remote_status="active",
            )


def test_mappings_link_to_the_crm_rows_they_became(admin_client_a, store):
    _mappings(store, range(1))
    customer = Customer.objects.get(email="woo0@example.com")
    order = WooOrder.objects.get(number="N0")
    subscription = customer.subscriptions.get()

    page = admin_client_a.get(MAPPINGS).text

    assert f'<a href="/admin/crm/customer/{customer.pk}/change/">woo0@example.com</a>' in page
    assert "Beans 0 (WOO-0)</a>" in page
    product = Product.objects.get(sku="WOO-0")
    assert (  # a variation's variant, on its product's page
        f'<a href="/admin/crm/product/{product.pk}/change/">Beans 0 - 1 kg (WOO-0-1KG)</a>'
    ) in page
    assert (
        f'<a href="/admin/subscriptions/subscription/{subscription.pk}/change/">'
        f"#{subscription.pk} woo0@example.com</a>"
    ) in page
    assert f'<a href="{ORDERS}{order.pk}/change/">#N0</a>' in page


def test_the_mappings_list_costs_the_same_queries_for_5_or_25_rows(admin_client_a, store):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client_a.get(MAPPINGS).status_code == 200
        return len(captured)

    _mappings(store, range(1))
    few = queries()
    _mappings(store, range(1, 5))

    assert WooMapping.objects.count() == 25
    assert queries() == few


def test_a_mapping_page_is_read_only(admin_client_a, store):
    customer = CustomerFactory(organization=store.organization, email="one@example.com")
    mapping = WooMapping.objects.create(
        organization=store.organization,
        store=store,
        resource="customer",
        woo_id=25,
        object_id=customer.pk,
    )

    response = admin_client_a.get(change_url(MAPPINGS, mapping))

    assert response.status_code == 200
    assert f'<a href="/admin/crm/customer/{customer.pk}/change/">one@example.com</a>' in (
        response.text
    )
    assert 'name="_save"' not in response.text
    assert admin_client_a.get(f"{MAPPINGS}add/").status_code == 403


def test_the_orders_list_shows_what_staff_need(admin_client_a, store):
    customer = CustomerFactory(organization=store.organization, email="buyer@example.com")
    subscription = SubscriptionFactory(customer=customer)
    order = WooOrder.objects.create(
        organization=store.organization,
        store=store,
        woo_id=727,
        number="727",
        kind=WooOrder.Kind.RENEWAL,
        status="processing",
        customer=customer,
        total=Decimal("24.90"),
        currency="EUR",
        ordered_at=timezone.now(),
    )
    WooRelatedOrder.objects.create(
        organization=store.organization,
        order=order,
        woo_subscription_id=55,
        subscription=subscription,
    )

    response = admin_client_a.get(ORDERS)

    page = response.text
    assert "#727" in page
    assert "Renewal" in page
    assert f'<a href="/admin/subscriptions/subscription/{subscription.pk}/change/">' in page
    assert "buyer@example.com" in page
    assert "24.90 EUR" in page
    assert admin_client_a.get(f"{ORDERS}add/").status_code == 403
