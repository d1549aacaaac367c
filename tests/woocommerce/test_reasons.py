# ruff: noqa: E501, RUF001
"""Why a delivery was ignored or failed, shown in the reader's language (issue 25, item 5).

The handlers record a code and its parameters (`WebhookDelivery.reason`); the admin
renders them in French or English; a row older than the codes, and an unexpected
exception, show their stored text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext, pgettext

from tests.woocommerce.conftest import sample
from woocommerce import reasons
from woocommerce.models import WebhookDelivery

DELIVERIES = "/admin/woocommerce/webhookdelivery/"
Status = WebhookDelivery.Status

# Parameters of every code, as the handlers give them; (English, French) expected.
CASES = {
    "no_handler": ({"resource": "coupon"}, "no handler for the resource 'coupon'", "aucun traitement pour la ressource 'coupon'"),
    "rest_error": ({"resource": "order", "error": "woocommerce_rest_invalid_id: Invalid ID."}, "WooCommerce sent an error instead of the order: woocommerce_rest_invalid_id: Invalid ID.", "WooCommerce a envoyé une erreur"),
    "refetch_scheduled": ({"woo_id": 12}, "the body holds only the id 12; re-fetch scheduled", "le contenu ne porte que l’identifiant 12"),
    "unchanged": ({}, "unchanged since the version applied", "inchangé depuis la version appliquée"),
    "stale": ({"modified": "2026-01-01T00:00:00+00:00", "applied": "2026-01-02T00:00:00+00:00"}, "older than the version applied: modified 2026-01-01T00:00:00+00:00, applied 2026-01-02T00:00:00+00:00", "plus ancien que la version appliquée"),
    "deleted_upstream": ({}, "deleted in the shop; a restore or reconciliation brings it back", "supprimé dans la boutique ; une restauration"),
    "variations_retired": ({"count": 2}, "2 variation(s) retired", "2 déclinaison(s) retirée(s)"),
    "deleted_in_shop": ({}, "deleted in the shop", "supprimé dans la boutique"),
    "customer_deleted": ({}, "deleted in the shop; the customer is kept here", "le client est conservé ici"),
    "product_deleted": ({}, "deleted in the shop; the product is now inactive", "le produit est désormais inactif"),
    "variant_deleted": ({}, "deleted in the shop; the variant is now retired", "la variante est désormais retirée"),
    "notes": ({"notes": [reasons.reason("unchanged"), reasons.reason("deleted_in_shop")]}, "unchanged since the version applied; deleted in the shop", "inchangé depuis la version appliquée; supprimé dans la boutique"),
    "preference_several_values": ({"key": "grind", "values": "'beans', 'filter'"}, "preference grind: the shop sent several values ('beans', 'filter'); none applied", "préférence grind : la boutique a envoyé plusieurs valeurs"),
    "preference_refused": ({"message": "grams: must be at most 1000."}, "preference grams: must be at most 1000.", "préférence grams: must be at most 1000."),
    "preferences_not_written": ({"details": "bag: A value is required."}, "preferences not written: bag: A value is required.", "préférences non enregistrées : "),
    "invalid_json": ({"error": "Expecting value: line 1 column 1 (char 0)"}, "the body is not valid JSON: Expecting value: line 1 column 1 (char 0)", "le contenu n’est pas du JSON valide : Expecting value"),
    "gave_up": ({"attempts": 3, "error": "worker killed", "last": None}, "gave up after 3 attempts; last error: worker killed", "abandon après 3 tentatives ; dernière erreur : worker killed"),
    "will_retry": ({"error": "server closed the connection"}, "will retry: server closed the connection", "nouvel essai prévu : server closed"),
    "body_not_object": ({}, "the body is not a JSON object", "le contenu n’est pas un objet JSON"),
    "invalid_id": ({"value": "None"}, "the body has no valid id: None", "le contenu n’a pas d’identifiant valide : None"),
    "date_not_string": ({"value": "12"}, "expected a date string, got 12", "date attendue sous forme de texte, reçu 12"),
    "not_a_date": ({"value": "'soon'"}, "not a date: 'soon'", "date invalide : 'soon'"),
    "not_an_amount": ({"value": "'abc'"}, "not an amount: 'abc'", "montant invalide : 'abc'"),
    "not_whole_number": ({"field": "quantity", "value": "'x'"}, "quantity: not a whole number: 'x'", "quantity : pas un nombre entier : 'x'"),
    "below_minimum": ({"field": "quantity", "minimum": 1, "value": 0}, "quantity: must be at least 1, got 0", "quantity : doit valoir au moins 1, reçu 0"),
    "unknown_subscription_status": ({"status": "'wc-odd'"}, "unknown subscription status 'wc-odd'", "statut d’abonnement inconnu 'wc-odd'"),
    "line_items_not_list": ({}, "line_items is not a list", "line_items n’est pas une liste"),
    "line_item_not_object": ({}, "a line item is not an object", "une ligne n’est pas un objet"),
    "no_email": ({"resource": "order", "woo_id": 727}, "order 727 has no e-mail address", "commande 727 : aucune adresse e-mail"),
    "invalid_email": ({"resource": "customer", "woo_id": 25, "email": "'x@'"}, "customer 25 has an invalid e-mail address: 'x@'", "client 25 : adresse e-mail invalide : 'x@'"),
    "email_taken": ({"resource": "customer", "woo_id": 25, "email": "a@b.fr"}, "customer 25: another customer of the organization has the e-mail a@b.fr", "client 25 : un autre client de l’organisation a l’adresse e-mail a@b.fr"),
    "negative_weight": ({"value": "'-1'"}, "negative weight '-1'", "poids négatif '-1'"),
    "weight_out_of_range": ({"value": "'1e12'"}, "weight out of range: '1e12'", "poids hors limites : '1e12'"),
    "attribute_not_object": ({}, "an attribute is not an object", "un attribut n’est pas un objet"),
    "line_sku_taken": ({"line": "7", "sku": "BEANS"}, "line 7: a product already has the SKU BEANS", "ligne 7 : un produit a déjà la référence BEANS"),
    "negative_line_total": ({"line": "7", "total": "-2"}, "line 7: negative total -2", "ligne 7 : total négatif -2"),
    "negative_price": ({"resource": "variation", "woo_id": 9, "price": "-1"}, "variation 9: negative price -1", "déclinaison 9 : prix négatif -1"),
    "product_sku_taken": ({"resource": "product", "woo_id": 9, "sku": "BEANS"}, "product 9: another product already has the SKU BEANS", "produit 9 : un autre produit a déjà la référence BEANS"),
    "product_sku_taken_by_variant": ({"resource": "product", "woo_id": 9, "sku": "BEANS"}, "product 9: a variant already has the SKU BEANS", "produit 9 : une variante a déjà la référence BEANS"),
    "variant_sku_taken": ({"resource": "variation", "woo_id": 9, "sku": "BEANS"}, "variation 9: another product or variant has the SKU BEANS", "déclinaison 9 : un autre produit ou une autre variante"),
    "no_parent": ({"resource": "variation", "woo_id": 9}, "variation 9 has no parent_id", "déclinaison 9 : aucun parent_id"),
    "unknown_billing_period": ({"resource": "subscription", "woo_id": 4, "period": "'fortnight'"}, "subscription 4: unknown billing_period 'fortnight'", "abonnement 4 : billing_period inconnu 'fortnight'"),
    "no_start_date": ({"resource": "subscription", "woo_id": 4}, "subscription 4 has no start date", "abonnement 4 : aucune date de début"),
    "no_status": ({"resource": "order", "woo_id": 727}, "order 727 has no status", "commande 727 : aucun statut"),
}  # fmt: skip


def _french(reason):
    with translation.override("fr"):
        return reasons.render(reason, gettext, pgettext)


def test_every_code_has_a_case_here():
    assert set(CASES) == set(reasons.MESSAGES)


def test_every_code_the_sync_records_is_in_the_table():
    """Read from the source: every code given to `PayloadError`, `Outcome.ignored/applied`
    and `reasons.reason` exists (a new one without a message fails here)."""
    source = "\n".join(
        path.read_text()
        for path in Path(reasons.__file__).parent.rglob("*.py")
        if "migrations" not in path.parts
    )
    pattern = r'(?:PayloadError|ignored|applied|reasons\.reason)\(\s*"([a-z_]+)"'
    used = set(re.findall(pattern, source))
    assert len(used) > 30
    assert used <= set(reasons.MESSAGES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_reason_reads_in_english_and_in_french(code):
    params, english, french = CASES[code]
    reason = reasons.reason(code, **params)

    assert reasons.english(reason) == english
    assert french in _french(reason)
    if code not in ("preference_refused",):  # the preference's own message is as refused
        assert _french(reason) != english


def test_gave_up_renders_the_last_errors_own_reason_in_the_readers_language():
    last = reasons.reason("no_status", resource="order", woo_id=727)
    reason = reasons.reason("gave_up", attempts=3, error="order 727 has no status", last=last)

    assert (
        _french(reason)
        == "abandon après 3 tentatives ; dernière erreur : commande 727 : aucun statut"
    )


def test_an_unknown_code_shows_the_code_and_none_shows_nothing():
    assert reasons.render({"code": "from_a_newer_worker", "params": {}}) == "from_a_newer_worker"
    assert reasons.render(None) == ""


# --- Recorded by the handlers, shown by the admin -----------------------------------------


@pytest.mark.django_db
def test_a_refused_payload_records_its_code_and_the_admin_shows_it_in_french(apply, admin_client_a):
    order = {**sample("order"), "status": ""}

    delivery = apply("order.updated", order)

    assert delivery.status == Status.FAILED
    assert delivery.reason == {
        "code": "no_status",
        "params": {"resource": "order", "woo_id": order["id"]},
    }
    assert delivery.error == f"order {order['id']} has no status"  # English, for logs
    french = admin_client_a.get(
        f"{DELIVERIES}{delivery.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr"
    ).text
    assert f"commande {order['id']} : aucun statut" in french
    listing = admin_client_a.get(DELIVERIES, HTTP_ACCEPT_LANGUAGE="fr").text
    assert f"commande {order['id']} : aucun statut" in listing
    english = admin_client_a.get(DELIVERIES, HTTP_ACCEPT_LANGUAGE="en").text
    assert f"order {order['id']} has no status" in english


@pytest.mark.django_db
def test_an_ignored_delivery_records_why_and_reads_in_french(apply, admin_client_a):
    customer = sample("customer")
    apply("customer.updated", customer)

    again = apply("customer.updated", {**customer, "date_modified_gmt": "2001-01-01T00:00:00"})

    assert (again.status, again.reason["code"]) == (Status.IGNORED, "stale")
    page = admin_client_a.get(f"{DELIVERIES}{again.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr").text
    assert "plus ancien que la version appliquée" in page


@pytest.mark.django_db
def test_an_unexpected_exception_keeps_its_technical_text(apply, monkeypatch):
    from woocommerce import handlers

    def broken(*args, **kwargs):
        raise KeyError("billing")

    monkeypatch.setattr(handlers, "apply", broken)

    delivery = apply("customer.updated", sample("customer"))

    assert (delivery.status, delivery.reason, delivery.error) == (
        Status.FAILED,
        None,
        "KeyError: 'billing'",
    )
    with translation.override("fr"):
        assert delivery.message() == "KeyError: 'billing'"


@pytest.mark.django_db
def test_a_row_older_than_the_codes_still_shows_its_text(store, admin_client_a):
    old = WebhookDelivery.objects.create(
        organization_id=store.organization_id,
        store=store,
        topic="order.updated",
        resource="order",
        event="updated",
        body=b"{}",
        body_sha256="old-row",
        status=Status.FAILED,
        error="order 727 has no status",
    )

    assert old.reason is None
    page = admin_client_a.get(f"{DELIVERIES}{old.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr").text
    assert "order 727 has no status" in page
    listing = admin_client_a.get(DELIVERIES, HTTP_ACCEPT_LANGUAGE="fr").text
    assert "order 727 has no status" in listing
