"""The admin keeps each staff member inside their organizations, with their role's rights."""

import pytest

from crm.models import Address, ApiKey, Contract, Customer, Membership, Product
from tests.factories import (
    ContractFactory,
    CustomerFactory,
    MembershipFactory,
    ProductFactory,
    UserFactory,
    api_key_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(org_a, org_b):
    """One customer, product and contract in each organization."""
    return {
        "a": {
            "customer": CustomerFactory(organization=org_a, email="alice@purea.example"),
            "product": ProductFactory(organization=org_a, sku="PUREA-1"),
        },
        "b": {
            "customer": CustomerFactory(organization=org_b, email="bob@othertea.example"),
            "product": ProductFactory(organization=org_b, sku="TEA-1"),
        },
    }


def member(organization, role):
    return MembershipFactory(organization=organization, role=role).user


# --- What a staff member sees ------------------------------------------------


@pytest.mark.parametrize(
    ("model", "mine", "theirs"),
    [("customer", "alice@purea.example", "bob@othertea.example"), ("product", "PUREA-1", "TEA-1")],
)
def test_changelists_show_only_the_members_organization(
    admin_client_for, staff_a, rows, model, mine, theirs
):
    response = admin_client_for(staff_a).get(f"/admin/crm/{model}/")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [rows["a"][model]]
    assert mine.encode() in response.content
    assert theirs.encode() not in response.content


@pytest.mark.parametrize("model", ["customer", "product"])
@pytest.mark.parametrize("page", ["change", "delete", "history"])
def test_another_organizations_pages_are_404_not_a_redirect(
    admin_client_for, org_a, rows, model, page
):
    org_admin = member(org_a, Membership.Role.ADMIN)
    theirs = rows["b"][model]

    response = admin_client_for(org_admin).get(f"/admin/crm/{model}/{theirs.pk}/{page}/")

    assert response.status_code == 404


def test_a_search_does_not_reach_another_organization(admin_client_for, staff_a, rows):
    response = admin_client_for(staff_a).get("/admin/crm/customer/", {"q": "bob"})

    assert list(response.context["cl"].result_list) == []


def test_foreign_key_and_organization_choices_are_the_members_only(
    admin_client_for, staff_a, org_a, rows
):
    response = admin_client_for(staff_a).get("/admin/crm/contract/add/")

    form = response.context["adminform"].form
    assert list(form.fields["organization"].queryset) == [org_a]
    assert list(form.fields["customer"].queryset) == [rows["a"]["customer"]]
    # With a single organization the form starts on it.
    assert form.initial["organization"] == org_a.pk


def test_the_customer_autocomplete_lists_only_the_members_customers(
    admin_client_for, staff_a, rows
):
    response = admin_client_for(staff_a).get(
        "/admin/autocomplete/",
        {"app_label": "crm", "model_name": "contract", "field_name": "customer", "term": ""},
    )

    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(rows["a"]["customer"].pk)]


def test_a_form_naming_another_organization_is_refused(admin_client_for, staff_a, org_b, rows):
    client = admin_client_for(staff_a)

    response = client.post(
        "/admin/crm/product/add/",
        {"organization": org_b.pk, "sku": "SNEAKY", "name": "x", "unit_price": "1", "active": "on"},
    )

    assert response.status_code == 200  # the form again, with its error
    assert "organization" in response.context["adminform"].form.errors
    assert not Product.objects.filter(sku="SNEAKY").exists()


def test_a_form_naming_another_organizations_customer_is_refused(
    admin_client_for, staff_a, org_a, rows
):
    response = admin_client_for(staff_a).post(
        "/admin/crm/contract/add/",
        {"organization": org_a.pk, "reference": "CT-X", "customer": rows["b"]["customer"].pk},
    )

    assert response.status_code == 200
    assert "customer" in response.context["adminform"].form.errors
    assert not Contract.objects.filter(reference="CT-X").exists()


def test_a_member_of_two_organizations_sees_both_and_can_filter(
    admin_client_for, org_a, org_b, rows
):
    user = member(org_a, Membership.Role.STAFF)
    MembershipFactory(user=user, organization=org_b)
    client = admin_client_for(user)

    everything = client.get("/admin/crm/customer/")
    only_b = client.get("/admin/crm/customer/", {"organization__id__exact": org_b.pk})

    assert everything.context["cl"].result_count == 2
    assert list(only_b.context["cl"].result_list) == [rows["b"]["customer"]]


def test_a_superuser_sees_every_organization(admin_client, rows):
    response = admin_client.get("/admin/crm/customer/")

    assert response.context["cl"].result_count == 2


# --- Roles -------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_add_or_change(admin_client_for, org_a, rows):
    client = admin_client_for(member(org_a, Membership.Role.VIEWER))
    customer = rows["a"]["customer"]

    changelist = client.get("/admin/crm/customer/")
    add = client.get("/admin/crm/customer/add/")
    change_page = client.get(f"/admin/crm/customer/{customer.pk}/change/")
    post = client.post(
        f"/admin/crm/customer/{customer.pk}/change/",
        {"email": "changed@example.com", "language": "fr"},
    )

    assert changelist.status_code == 200
    assert add.status_code == 403
    assert change_page.status_code == 200
    assert change_page.context["has_change_permission"] is False
    assert post.status_code == 403
    customer.refresh_from_db()
    assert customer.email == "alice@purea.example"


def test_staff_add_and_change_but_cannot_delete(admin_client_for, staff_a, org_a, rows):
    client = admin_client_for(staff_a)
    product = rows["a"]["product"]

    changed = client.post(
        f"/admin/crm/product/{product.pk}/change/",
        {"organization": org_a.pk, "sku": "PUREA-1", "name": "Renamed", "unit_price": "9.90"},
    )
    delete = client.post(f"/admin/crm/product/{product.pk}/delete/", {"post": "yes"})

    assert changed.status_code == 302
    product.refresh_from_db()
    assert product.name == "Renamed"
    assert delete.status_code == 403
    assert Product.objects.filter(pk=product.pk).exists()


def test_an_organization_admin_deletes(admin_client_for, org_a, rows):
    client = admin_client_for(member(org_a, Membership.Role.ADMIN))
    product = rows["a"]["product"]

    response = client.post(f"/admin/crm/product/{product.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()


@pytest.mark.parametrize("model", ["apikey", "membership"])
def test_only_organization_admins_manage_keys_and_memberships(admin_client_for, org_a, model):
    staff = admin_client_for(member(org_a, Membership.Role.STAFF))
    org_admin = admin_client_for(member(org_a, Membership.Role.ADMIN))

    assert staff.get(f"/admin/crm/{model}/").status_code == 403
    assert org_admin.get(f"/admin/crm/{model}/").status_code == 200


def test_an_organization_admin_sees_only_their_memberships(admin_client_for, org_a, org_b):
    org_admin = member(org_a, Membership.Role.ADMIN)
    member(org_b, Membership.Role.ADMIN)

    response = admin_client_for(org_admin).get("/admin/crm/membership/")

    assert {m.organization for m in response.context["cl"].result_list} == {org_a}
    form = admin_client_for(org_admin).get("/admin/crm/membership/add/").context["adminform"].form
    # Other organizations' people are not offered.
    assert set(form.fields["user"].queryset) == {org_admin}


def test_a_staff_member_cannot_edit_the_organization_or_see_others(
    admin_client_for, staff_a, org_a, org_b
):
    client = admin_client_for(staff_a)

    listing = client.get("/admin/crm/organization/")
    own = client.get(f"/admin/crm/organization/{org_a.pk}/change/")
    other = client.get(f"/admin/crm/organization/{org_b.pk}/change/")

    assert list(listing.context["cl"].result_list) == [org_a]
    assert own.context["has_change_permission"] is False
    assert other.status_code == 404


# --- Inlines and API keys -----------------------------------------------------


def test_an_inline_address_belongs_to_its_customers_organization(admin_client_for, staff_a, org_a):
    response = admin_client_for(staff_a).post(
        "/admin/crm/customer/add/",
        {
            "organization": org_a.pk,
            "email": "new@purea.example",
            "language": "fr",
            "addresses-TOTAL_FORMS": "1",
            "addresses-INITIAL_FORMS": "0",
            "addresses-0-kind": "shipping",
            "addresses-0-name": "New Customer",
            "addresses-0-line1": "1 rue Neuve",
            "addresses-0-postcode": "69001",
            "addresses-0-city": "Lyon",
            "addresses-0-country": "FR",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(email="new@purea.example")
    address = Address.objects.get(customer=customer)
    assert customer.organization == org_a
    assert address.organization == org_a


def test_creating_an_api_key_shows_it_once_and_stores_its_hash(admin_client_for, org_a):
    client = admin_client_for(member(org_a, Membership.Role.ADMIN))

    response = client.post(
        "/admin/crm/apikey/add/", {"organization": org_a.pk, "name": "Shop"}, follow=True
    )

    api_key = ApiKey.objects.get(organization=org_a, name="Shop")
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) >= 1
    key = next(word for m in shown for word in m.split() if word.startswith(api_key.prefix + "."))
    assert api_key.hashed_key == ApiKey.hash(key)
    assert key not in [str(v) for v in ApiKey.objects.values().get(pk=api_key.pk).values()]
    # The change page shows the prefix, never the key again.
    page = client.get(f"/admin/crm/apikey/{api_key.pk}/change/")
    assert key.encode() not in page.content
    assert api_key.prefix.encode() in page.content


def test_the_revoke_action_revokes_the_selected_keys(admin_client_for, org_a, client):
    api_key, key = api_key_for(org_a)
    admin = admin_client_for(member(org_a, Membership.Role.ADMIN))

    admin.post(
        "/admin/crm/apikey/",
        {"action": "revoke", "_selected_action": [api_key.pk]},
    )

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert client.get("/api/v1/customers/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 401


def test_a_contract_of_another_organization_is_not_listed(admin_client_for, staff_a, org_b):
    ContractFactory(customer=CustomerFactory(organization=org_b), reference="THEIRS")

    response = admin_client_for(staff_a).get("/admin/crm/contract/")

    assert b"THEIRS" not in response.content


def test_a_user_without_any_membership_is_refused_the_lists(admin_client_for, rows):
    response = admin_client_for(UserFactory()).get("/admin/crm/customer/")

    assert response.status_code == 403


def test_the_customer_changelist_queries_do_not_grow_with_its_length(
    admin_client_for, staff_a, org_a, django_assert_max_num_queries
):
    client = admin_client_for(staff_a)
    CustomerFactory.create_batch(3, organization=org_a)
    client.get("/admin/crm/customer/")  # warm the session and content types

    with django_assert_max_num_queries(12) as few:
        client.get("/admin/crm/customer/")
    CustomerFactory.create_batch(40, organization=org_a)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/crm/customer/")

    assert response.context["cl"].result_count == 43


def test_an_organization_admin_edits_their_organization(admin_client_for, org_a):
    client = admin_client_for(member(org_a, Membership.Role.ADMIN))

    response = client.post(
        f"/admin/crm/organization/{org_a.pk}/change/",
        {"name": org_a.name, "timezone": "Europe/Brussels", "currency": "EUR", "language": "fr"},
    )

    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.timezone == "Europe/Brussels"
