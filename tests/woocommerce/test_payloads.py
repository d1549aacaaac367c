"""Reading what WooCommerce sends, without the database."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.woocommerce.conftest import sample
from woocommerce import payloads
from woocommerce.payloads import PayloadError


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body():
    body = b'{"id":1}'
    expected = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    assert payloads.signature(body, "k") == expected


@given(body=st.binary(max_size=200), secret=st.text(min_size=1, max_size=30))
def test_a_signature_matches_only_its_body_and_secret(body, secret):
    sig = payloads.signature(body, secret)
    assert payloads.signature_matches(body, sig, [secret])
    assert payloads.signature_matches(body, sig, ["other", secret])
    assert not payloads.signature_matches(body + b" ", sig, [secret])
    assert not payloads.signature_matches(body, sig, [])
    assert not payloads.signature_matches(body, "", [secret])


@pytest.mark.parametrize(
    ("body", "webhook_id"),
    [(b"webhook_id=12", 12), (b"webhook_id=12\n", 12), (b"webhook_id=x", None), (b"{}", None)],
)
def test_a_ping_is_recognised(body, webhook_id):
    assert payloads.ping_webhook_id(body) == webhook_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-04-29T10:44:41", datetime(2021, 4, 29, 10, 44, 41, tzinfo=UTC)),
        ("2021-04-29T12:44:41+02:00", datetime(2021, 4, 29, 10, 44, 41, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_gmt_dates_are_naive_utc_and_empty_means_none(value, expected):
    assert payloads.gmt(value) == expected


@pytest.mark.parametrize("value", ["tomorrow", 12, "2021-13-01T00:00:00"])
def test_a_bad_date_is_a_payload_error(value):
    with pytest.raises(PayloadError):
        payloads.gmt(value)


def test_amounts_and_integers_as_woocommerce_writes_them():
    assert payloads.decimal("21.99") == Decimal("21.99")
    assert payloads.decimal(7.905138) == Decimal("7.905138")
    assert payloads.decimal("", Decimal(0)) == Decimal(0)
    assert payloads.integer("3", "billing_interval") == 3
    for bad in ("NaN", "abc"):
        with pytest.raises(PayloadError):
            payloads.decimal(bad)
    for bad in ("", None, True, "1.5"):
        with pytest.raises(PayloadError, match="billing_interval"):
            payloads.integer(bad, "billing_interval")


def test_meta_values_of_any_shape():
    payload = {
        "meta_data": [
            {"key": "a", "value": "x"},
            {"key": "b", "value": ["1275"]},
            {"key": "c", "value": {"k": 1}},
            "not-an-entry",
        ]
    }
    assert payloads.meta(payload, "a") == "x"
    assert payloads.meta(payload, "c") == {"k": 1}
    assert payloads.meta(payload, "missing") is None


@pytest.mark.parametrize(
    ("meta", "link"),
    [
        ([{"key": "_subscription_renewal", "value": "1275"}], ("renewal", 1275)),
        ([{"key": "_subscription_renewal", "value": ["1275"]}], ("renewal", 1275)),
        ([{"key": "_subscription_switch", "value": 88}], ("switch", 88)),
        ([{"key": "_subscription_resubscribe", "value": "9"}], ("resubscribe", 9)),
        ([{"key": "_subscription_renewal", "value": ""}], None),
        ([{"key": "_subscription_renewal", "value": "abc"}], None),
        ([], None),
    ],
)
def test_an_order_names_its_subscription_in_its_meta(meta, link):
    assert payloads.order_link({"meta_data": meta}) == link


def test_the_sample_renewal_order_links_to_its_subscription():
    _parent, renewal = sample("subscription_orders")
    assert payloads.order_link(renewal) == ("renewal", 1275)


def test_deleted_and_error_bodies():
    assert payloads.is_deleted_body({"id": 727})
    assert not payloads.is_deleted_body(sample("order_deleted_via_rest"))
    error = {"code": "woocommerce_rest_invalid_id", "message": "Invalid ID.", "data": {}}
    assert payloads.rest_error(error) == "woocommerce_rest_invalid_id: Invalid ID."
    assert payloads.rest_error(sample("order")) is None


def test_every_status_woocommerce_lists_has_a_crm_status():
    for key in sample("subscription_statuses"):
        assert payloads.subscription_status(key, latest_renewal_status=None).status


@pytest.mark.parametrize(
    ("order_status", "charge_status"),
    [
        ("processing", "paid"),
        ("completed", "paid"),
        ("failed", "failed"),
        ("pending", "pending"),
        ("on-hold", "pending"),
        ("cancelled", "voided"),
        ("refunded", "refunded"),
    ],
)
def test_order_statuses_become_charge_statuses(order_status, charge_status):
    assert payloads.charge_status(order_status) == charge_status


# --- One initial order, several subscriptions --------------------------------------------


def test_a_line_is_read_as_its_product_its_variation_and_what_it_cost_with_tax():
    assert payloads.line_amounts(sample("subscription_created")) == [
        [1175, 0, "139.13"],  # 126.48 + 12.65
        [633, 636, "43.48"],  # 39.53 + 3.95
    ]
    with pytest.raises(PayloadError, match="not a list"):
        payloads.line_amounts({"line_items": "x"})


def test_an_initial_order_is_shared_by_its_subscriptions_own_lines():
    order = [[1027, 0, "10.00"], [1175, 0, "139.13"], [633, 636, "43.48"], [633, 637, "5.00"]]
    shares = payloads.initial_shares(
        order,
        {
            1300: [[1027, 0, "12.00"]],  # its price since: the order's line is what was paid
            1313: [[1175, 0, "139.13"], [633, 636, "43.48"]],
            1400: [[999, 0, "7.50"]],  # none of its lines is in the order (items changed)
        },
    )
    assert shares == {1300: Decimal("10.00"), 1313: Decimal("182.61"), 1400: Decimal("7.50")}


def test_a_line_two_subscriptions_list_is_counted_once_for_the_lower_id():
    shares = payloads.initial_shares(
        [[1, 0, "4.00"], [2, 0, "6.00"]], {20: [[1, 0, "4"], [2, 0, "6"]], 10: [[1, 0, "4"]]}
    )
    assert shares == {10: Decimal("4.00"), 20: Decimal("6.00")}
