"""The admin keeps each staff member inside their organizations, with their role's rights.

Every test goes through Django's test client and the real admin URLs. Organization A
("Purea Café") and organization B ("Other Tea Co") each own one customer, product and
contract; the person acting is a member of A unless the test says otherwise.
"""

import re

import pytest
from django.utils import timezone

from crm.models import Address, ApiKey, Contract, Customer, Membership, Product
from tests.factories import (
    ContractFactory,
    CustomerFactory,
    MembershipFactory,
    OrganizationFactory,
    ProductFactory,
    UserFactory,
    api_key_for,
    member,
)

pytestmark = pytest.mark.django_db

Role = Membership.Role

# What identifies each organization's row on a page: B's must never show up for A.
MARKERS = {
    "customer": ("alice@purea.example", "bob@othertea.example"),
    "product": ("PUREA-SKU-1", "TEA-SKU-1"),
    "contract": ("PUREA-CT-1", "TEA-CT-1"),
}


@pytest.fixture
def rows(org_a, org_b):
    """One customer, product and contract in each organization."""

    def rows_of(organization, customer_email, sku, reference):
        customer = CustomerFactory(organization=organization, email=customer_email)
        return {
            "customer": customer,
            "product": ProductFactory(organization=organization, sku=sku),
            "contract": ContractFactory(customer=customer, reference=reference),
        }

    return {
        "a": rows_of(org_a, *(mine for mine, _theirs in MARKERS.values())),
        "b": rows_of(org_b, *(theirs for _mine, theirs in MARKERS.values())),
    }


def customer_add_form(organization, email, **extra):
    """The customer add form as the browser posts it (with the empty address and note
    inlines)."""
    return {
        "organization": organization.pk,
        "email": email,
        "language": "fr",
        "addresses-TOTAL_FORMS": "0",
        "addresses-INITIAL_FORMS": "0",
        "notes-TOTAL_FORMS": "0",
        "notes-INITIAL_FORMS": "0",
        **extra,
    }


def product_change_form(product, **changes):
    data = {
        "organization": product.organization_id,
        "sku": product.sku,
        "name": product.name,
        "unit_price": str(product.unit_price),
        "active": "on" if product.active else "",
        # The variants inline, empty (a simple product).
        "variants-TOTAL_FORMS": "0",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def form_errors(response):
    return response.context["adminform"].form.errors


# --- A staff member sees only their organization ------------------------------------


@pytest.mark.parametrize("model", ["customer", "product", "contract"])
def test_changelists_list_only_the_members_organization(
    admin_client_for, staff_user_a, rows, model
):
    # Given rows in A and in B
    mine, theirs = MARKERS[model]

    # When A's staff member opens the changelist
    response = admin_client_for(staff_user_a).get(f"/admin/crm/{model}/")

    # Then only A's row is listed, and nothing of B's shows on the page
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [rows["a"][model]]
    assert response.context["cl"].result_count == 1
    assert mine in response.content.decode()
    assert theirs not in response.content.decode()


@pytest.mark.parametrize("model", ["customer", "product", "contract"])
@pytest.mark.parametrize("page", ["change", "delete", "history"])
def test_another_organizations_pages_are_404_not_a_redirect(
    admin_client_for, staff_user_a, rows, model, page
):
    # Given B's row
    theirs = rows["b"][model]

    # When A's staff member opens its change, delete or history page by its id
    response = admin_client_for(staff_user_a).get(f"/admin/crm/{model}/{theirs.pk}/{page}/")

    # Then it answers as for a row that does not exist, without revealing anything
    assert response.status_code == 404
    assert MARKERS[model][1] not in response.content.decode()


def test_another_organizations_row_cannot_be_deleted_by_post(admin_client_for, org_a, rows):
    # Given an administrator of A, who may delete A's products
    client = admin_client_for(member(org_a, Role.ADMIN))
    theirs = rows["b"]["product"]

    # When they confirm the deletion of B's product by its id
    response = client.post(f"/admin/crm/product/{theirs.pk}/delete/", {"post": "yes"})

    # Then the page is not found and the product is still there
    assert response.status_code == 404
    assert Product.objects.filter(pk=theirs.pk).exists()


def test_a_search_does_not_reach_another_organization(admin_client_for, staff_user_a, rows):
    # When A's staff member searches for B's customer's e-mail
    response = admin_client_for(staff_user_a).get("/admin/crm/customer/", {"q": "othertea"})

    # Then nothing is found
    assert list(response.context["cl"].result_list) == []
    assert "bob@othertea.example" not in response.content.decode()


def test_filtering_on_another_organization_shows_nothing(
    admin_client_for, staff_user_a, org_b, rows
):
    # When A's staff member forges the organization filter of the changelist
    response = admin_client_for(staff_user_a).get(
        "/admin/crm/customer/", {"organization__id__exact": org_b.pk}
    )

    # Then the list is empty: B's customers stay out of reach
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert "bob@othertea.example" not in response.content.decode()


def test_the_contract_form_offers_only_the_members_organization_and_customers(
    admin_client_for, staff_user_a, org_a, rows
):
    # When A's staff member opens the contract add form
    response = admin_client_for(staff_user_a).get("/admin/crm/contract/add/")

    # Then the organization and customer choices are A's only
    form = response.context["adminform"].form
    assert list(form.fields["organization"].queryset) == [org_a]
    assert list(form.fields["customer"].queryset) == [rows["a"]["customer"]]
    # With a single organization the form starts on it.
    assert form.initial["organization"] == org_a.pk
    assert "Other Tea Co" not in response.content.decode()


def test_the_customer_form_offers_only_the_members_organization(
    admin_client_for, staff_user_a, org_a, org_b
):
    response = admin_client_for(staff_user_a).get("/admin/crm/customer/add/")

    form = response.context["adminform"].form
    assert list(form.fields["organization"].queryset) == [org_a]
    assert "Other Tea Co" not in response.content.decode()


def test_the_customer_autocomplete_lists_only_the_members_customers(
    admin_client_for, staff_user_a, rows
):
    # When the contract form's customer autocomplete asks for every customer
    response = admin_client_for(staff_user_a).get(
        "/admin/autocomplete/",
        {"app_label": "crm", "model_name": "contract", "field_name": "customer", "term": ""},
    )

    # Then it lists A's customer only
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(rows["a"]["customer"].pk)]


def test_the_organization_filter_names_only_the_users_organizations(
    admin_client_for, org_a, org_b, rows
):
    # Given a staff member of A and B, and a third organization they have nothing to do with
    user = member(org_a, Role.STAFF)
    MembershipFactory(user=user, organization=org_b)
    CustomerFactory(organization=OrganizationFactory(name="Secret Third Shop"))

    # When they open the customer changelist, which offers a filter by organization
    response = admin_client_for(user).get("/admin/crm/customer/")

    # Then the filter names their two organizations, never the third one
    page = response.content.decode()
    assert "Purea Café" in page
    assert "Other Tea Co" in page
    assert "Secret Third Shop" not in page


# --- Forms naming another organization's rows are refused ----------------------------


def test_a_customer_form_naming_another_organization_is_refused(
    admin_client_for, staff_user_a, org_b
):
    # When A's staff member posts a new customer into B
    response = admin_client_for(staff_user_a).post(
        "/admin/crm/customer/add/", customer_add_form(org_b, "sneaky@example.com")
    )

    # Then the form comes back with an error on the organization and nothing is created
    assert response.status_code == 200
    assert "organization" in form_errors(response)
    assert not Customer.objects.filter(email="sneaky@example.com").exists()


def test_a_contract_form_naming_another_organization_is_refused(
    admin_client_for, staff_user_a, org_b
):
    response = admin_client_for(staff_user_a).post(
        "/admin/crm/contract/add/", {"organization": org_b.pk, "reference": "CT-SNEAKY"}
    )

    assert response.status_code == 200
    assert "organization" in form_errors(response)
    assert not Contract.objects.filter(reference="CT-SNEAKY").exists()


def test_a_contract_form_naming_another_organizations_customer_is_refused(
    admin_client_for, staff_user_a, org_a, rows
):
    # When A's staff member posts a contract of A for B's customer
    response = admin_client_for(staff_user_a).post(
        "/admin/crm/contract/add/",
        {"organization": org_a.pk, "reference": "CT-SNEAKY", "customer": rows["b"]["customer"].pk},
    )

    # Then the customer is refused and no contract exists
    assert response.status_code == 200
    assert "customer" in form_errors(response)
    assert not Contract.objects.filter(reference="CT-SNEAKY").exists()


def test_a_row_cannot_be_moved_into_another_organization(
    admin_client_for, staff_user_a, org_b, rows
):
    # Given A's product
    product = rows["a"]["product"]

    # When A's staff member saves it with B as its organization
    admin_client_for(staff_user_a).post(
        f"/admin/crm/product/{product.pk}/change/",
        product_change_form(product, organization=org_b.pk, name="Renamed"),
    )

    # Then the product stays in A
    product.refresh_from_db()
    assert product.organization_id == rows["a"]["customer"].organization_id


def test_a_member_of_two_organizations_cannot_move_a_customer_between_them(
    admin_client_for, org_a, org_b, rows
):
    # Given a staff member of A and B, and A's customer with an address
    user = member(org_a, Role.STAFF)
    MembershipFactory(user=user, organization=org_b, role=Role.STAFF)
    customer = rows["a"]["customer"]
    client = admin_client_for(user)

    # When they open the customer's page
    page = client.get(f"/admin/crm/customer/{customer.pk}/change/")

    # Then the organization is shown, not offered for change
    assert "organization" not in page.context["adminform"].form.fields

    # And posting B as its organization leaves it in A
    client.post(
        f"/admin/crm/customer/{customer.pk}/change/",
        customer_add_form(org_b, customer.email),
    )
    customer.refresh_from_db()
    assert customer.organization_id == org_a.pk


# --- Roles ---------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_add_or_change(admin_client_for, org_a, rows):
    # Given a viewer of A
    client = admin_client_for(member(org_a, Role.VIEWER))
    customer = rows["a"]["customer"]

    # When they open the list, the add page and a change page, and post a change
    changelist = client.get("/admin/crm/customer/")
    add_page = client.get("/admin/crm/customer/add/")
    add_post = client.post("/admin/crm/customer/add/", customer_add_form(org_a, "v@example.com"))
    change_page = client.get(f"/admin/crm/customer/{customer.pk}/change/")
    change_post = client.post(
        f"/admin/crm/customer/{customer.pk}/change/",
        customer_add_form(org_a, "changed@example.com"),
    )

    # Then they read the list and the customer, with no field to edit and no save button
    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == [customer]
    assert change_page.status_code == 200
    assert change_page.context["has_change_permission"] is False
    page = change_page.content.decode()
    assert "alice@purea.example" in page
    assert 'name="email"' not in page
    assert 'name="_save"' not in page
    # And adding or changing is forbidden
    assert add_page.status_code == 403
    assert add_post.status_code == 403
    assert change_post.status_code == 403
    assert not Customer.objects.filter(email="v@example.com").exists()
    customer.refresh_from_db()
    assert customer.email == "alice@purea.example"


def test_staff_add_and_change_but_cannot_delete(admin_client_for, staff_user_a, org_a, rows):
    # Given a staff member of A and A's product
    client = admin_client_for(staff_user_a)
    product = rows["a"]["product"]

    # When they add a customer, rename the product and try to delete it
    added = client.post("/admin/crm/customer/add/", customer_add_form(org_a, "new@purea.example"))
    changed = client.post(
        f"/admin/crm/product/{product.pk}/change/", product_change_form(product, name="Renamed")
    )
    delete_page = client.get(f"/admin/crm/product/{product.pk}/delete/")
    delete_post = client.post(f"/admin/crm/product/{product.pk}/delete/", {"post": "yes"})

    # Then the customer exists in A and the product is renamed
    assert added.status_code == 302
    assert Customer.objects.get(email="new@purea.example").organization == org_a
    assert changed.status_code == 302
    product.refresh_from_db()
    assert product.name == "Renamed"
    # But the deletion is forbidden and the product is still there
    assert delete_page.status_code == 403
    assert delete_post.status_code == 403
    assert Product.objects.filter(pk=product.pk).exists()


def test_staff_are_not_offered_the_bulk_delete_action(admin_client_for, staff_user_a, rows):
    # Given a staff member of A on the product list, which offers no bulk action to them
    client = admin_client_for(staff_user_a)
    product = rows["a"]["product"]
    assert "delete_selected" not in client.get("/admin/crm/product/").content.decode()

    # When they post the "delete selected" action anyway, confirmed
    response = client.post(
        "/admin/crm/product/",
        {"action": "delete_selected", "index": "0", "_selected_action": [product.pk]},
    )
    confirmed = client.post(
        "/admin/crm/product/",
        {"action": "delete_selected", "_selected_action": [product.pk], "post": "yes"},
    )

    # Then no confirmation page is shown and the product is still there
    assert response.status_code == 200
    assert confirmed.status_code == 200
    for page in (response, confirmed):
        assert "admin/delete_selected_confirmation.html" not in {t.name for t in page.templates}
    assert Product.objects.filter(pk=product.pk).exists()


def test_an_organization_admin_deletes(admin_client_for, org_a, rows):
    # Given an administrator of A
    client = admin_client_for(member(org_a, Role.ADMIN))
    product = rows["a"]["product"]

    # When they confirm the deletion of A's product
    response = client.post(f"/admin/crm/product/{product.pk}/delete/", {"post": "yes"})

    # Then it is gone
    assert response.status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.STAFF])
@pytest.mark.parametrize("model", ["apikey", "membership"])
def test_only_organization_admins_see_api_keys_and_memberships(
    admin_client_for, org_a, model, role
):
    # Given a viewer or staff member of A and an administrator of A
    api_key_for(org_a)
    not_admin = admin_client_for(member(org_a, role))
    org_admin = admin_client_for(member(org_a, Role.ADMIN))

    # Then only the administrator opens the list, and the others don't see the menu entry
    assert not_admin.get(f"/admin/crm/{model}/").status_code == 403
    assert not_admin.get(f"/admin/crm/{model}/add/").status_code == 403
    assert f"/admin/crm/{model}/" not in not_admin.get("/admin/").content.decode()
    listing = org_admin.get(f"/admin/crm/{model}/")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count >= 1


def test_an_organization_admin_sees_only_their_keys_and_memberships(admin_client_for, org_a, org_b):
    # Given an administrator of A, and B's own administrator and key
    org_admin = member(org_a, Role.ADMIN)
    other_admin = member(org_b, Role.ADMIN)
    mine, _ = api_key_for(org_a, name="Purea shop")
    theirs, _ = api_key_for(org_b, name="Tea shop")
    client = admin_client_for(org_admin)

    # When they open the API key and membership lists
    keys = client.get("/admin/crm/apikey/")
    memberships = client.get("/admin/crm/membership/")

    # Then they see A's rows only, and B's name appears nowhere (not even in a filter)
    assert list(keys.context["cl"].result_list) == [mine]
    assert {m.organization for m in memberships.context["cl"].result_list} == {org_a}
    for page in (keys, memberships):
        assert "Other Tea Co" not in page.content.decode()
    assert other_admin.username not in memberships.content.decode()
    assert "Tea shop" not in keys.content.decode()
    # B's rows' pages are not found
    assert client.get(f"/admin/crm/apikey/{theirs.pk}/change/").status_code == 404
    other_membership = other_admin.memberships.get()
    assert client.get(f"/admin/crm/membership/{other_membership.pk}/change/").status_code == 404
    # And a new membership may only name A and A's people
    form = client.get("/admin/crm/membership/add/").context["adminform"].form
    assert list(form.fields["organization"].queryset) == [org_a]
    assert set(form.fields["user"].queryset) == {org_admin}


def test_a_superuser_sees_every_organization(admin_client, org_a, org_b, rows):
    # When a superuser opens the customer and product lists
    customers = admin_client.get("/admin/crm/customer/")
    products = admin_client.get("/admin/crm/product/")

    # Then they see both organizations' rows
    assert set(customers.context["cl"].result_list) == {
        rows["a"]["customer"],
        rows["b"]["customer"],
    }
    assert set(products.context["cl"].result_list) == {rows["a"]["product"], rows["b"]["product"]}
    page = customers.content.decode()
    assert "alice@purea.example" in page
    assert "bob@othertea.example" in page
    # And may open B's rows
    b_customer = rows["b"]["customer"]
    assert admin_client.get(f"/admin/crm/customer/{b_customer.pk}/change/").status_code == 200


def test_a_member_of_two_organizations_sees_both_and_can_filter(
    admin_client_for, org_a, org_b, rows
):
    # Given a staff member of A and B
    user = member(org_a, Role.STAFF)
    MembershipFactory(user=user, organization=org_b)
    client = admin_client_for(user)

    # When they open the customer list, then filter it on B
    everything = client.get("/admin/crm/customer/")
    only_b = client.get("/admin/crm/customer/", {"organization__id__exact": org_b.pk})

    # Then they see both, then B's only
    assert set(everything.context["cl"].result_list) == {
        rows["a"]["customer"],
        rows["b"]["customer"],
    }
    assert list(only_b.context["cl"].result_list) == [rows["b"]["customer"]]


def test_a_viewer_of_one_organization_cannot_edit_it_from_the_list(
    admin_client_for, org_a, org_b, rows
):
    # Given a staff member of A who is only a viewer of B, on the product list
    # (whose "active" column is editable in place)
    user = member(org_a, Role.STAFF)
    MembershipFactory(user=user, organization=org_b, role=Role.VIEWER)
    client = admin_client_for(user)
    mine, theirs = rows["a"]["product"], rows["b"]["product"]

    # When they untick "active" on both rows and save the list
    response = client.post(
        "/admin/crm/product/",
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": mine.pk,
            "form-1-id": theirs.pk,
            "_save": "Save",
        },
    )

    # Then A's product is switched off but B's is untouched
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.active is False
    assert theirs.active is True
    # And the list shows B's "active" box disabled, B's product page read-only
    listing = client.get("/admin/crm/product/")
    forms = {form.instance: form for form in listing.context["cl"].formset.forms}
    assert forms[theirs]["active"].field.disabled is True
    assert forms[mine]["active"].field.disabled is False
    page = client.get(f"/admin/crm/product/{theirs.pk}/change/")
    assert page.context["has_change_permission"] is False


def test_a_user_without_any_membership_is_refused_the_lists(admin_client_for, rows):
    response = admin_client_for(UserFactory()).get("/admin/crm/customer/")

    assert response.status_code == 403


# --- Organizations -------------------------------------------------------------------


def test_a_staff_member_reads_their_organization_but_not_others(
    admin_client_for, staff_user_a, org_a, org_b
):
    client = admin_client_for(staff_user_a)

    listing = client.get("/admin/crm/organization/")
    own = client.get(f"/admin/crm/organization/{org_a.pk}/change/")
    other = client.get(f"/admin/crm/organization/{org_b.pk}/change/")

    assert list(listing.context["cl"].result_list) == [org_a]
    assert "Other Tea Co" not in listing.content.decode()
    assert own.status_code == 200
    assert own.context["has_change_permission"] is False
    assert other.status_code == 404


def test_an_organization_admin_edits_their_organization(admin_client_for, org_a):
    client = admin_client_for(member(org_a, Role.ADMIN))

    response = client.post(
        f"/admin/crm/organization/{org_a.pk}/change/",
        {"name": org_a.name, "timezone": "Europe/Brussels", "currency": "EUR", "language": "fr"},
    )

    assert response.status_code == 302
    org_a.refresh_from_db()
    assert org_a.timezone == "Europe/Brussels"


def test_an_organization_admin_opens_their_organizations_page(admin_client_for, org_a):
    # It was a 500 (KeyError 'slug'): the slug, read-only for them, was still prepopulated.
    client = admin_client_for(member(org_a, Role.ADMIN))

    response = client.get(f"/admin/crm/organization/{org_a.pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is True
    assert 'name="slug"' not in response.text  # shown, not offered for editing
    assert org_a.slug in response.text
    assert 'name="timezone"' in response.text


# --- The address inline --------------------------------------------------------------


def test_an_inline_address_belongs_to_its_customers_organization(
    admin_client_for, staff_user_a, org_a
):
    # When A's staff member adds a customer with one address in the inline
    response = admin_client_for(staff_user_a).post(
        "/admin/crm/customer/add/",
        customer_add_form(
            org_a,
            "new@purea.example",
            **{
                "addresses-TOTAL_FORMS": "1",
                "addresses-0-kind": "shipping",
                "addresses-0-name": "New Customer",
                "addresses-0-line1": "1 rue Neuve",
                "addresses-0-postcode": "69001",
                "addresses-0-city": "Lyon",
                "addresses-0-country": "FR",
            },
        ),
    )

    # Then both the customer and its address are created in A
    assert response.status_code == 302
    customer = Customer.objects.get(email="new@purea.example")
    address = Address.objects.get(customer=customer)
    assert customer.organization == org_a
    assert address.organization == org_a
    assert address.line1 == "1 rue Neuve"


# --- API keys ------------------------------------------------------------------------

KEY = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9_-]{20,}")


def test_creating_an_api_key_shows_it_once_and_stores_only_its_hash(admin_client_for, org_a):
    # Given an administrator of A
    client = admin_client_for(member(org_a, Role.ADMIN))

    # When they add a read-only key through the admin form
    response = client.post(
        "/admin/crm/apikey/add/", {"organization": org_a.pk, "name": "Shop", "scope": "read"}
    )

    # Then the page answering the form shows the clear key, which authenticates as that row
    api_key = ApiKey.objects.get(organization=org_a, name="Shop")
    assert api_key.scope == ApiKey.Scope.READ
    assert response.status_code == 200
    keys = KEY.findall(response.text)
    assert len(set(keys)) == 1
    key = keys[0]
    assert key.startswith(f"{api_key.prefix}.")
    assert "Read only" in response.text
    assert "no-store" in response["Cache-Control"]
    # ... in no cookie (the `messages` cookie is signed, not encrypted) and in no message
    secret = key.split(".", 1)[1]
    for cookie in response.cookies.values():
        assert secret not in cookie.OutputString(), cookie.key
    assert "Set-Cookie" not in response.headers or secret not in response.headers["Set-Cookie"]
    assert not [str(m) for m in response.context["messages"]]
    # Only its SHA-256 is stored: neither the key nor its secret part is in any field
    assert api_key.hashed_key == ApiKey.hash(key)
    for field in ApiKey._meta.concrete_fields:
        stored = str(field.value_from_object(api_key))
        assert key not in stored, field.name
        assert secret not in stored, field.name
    # And it is never shown again: neither on the next page nor on the key's own page
    listing = client.get("/admin/crm/apikey/")
    assert secret not in listing.content.decode()
    for cookie in listing.cookies.values():
        assert secret not in cookie.OutputString()
    page = client.get(f"/admin/crm/apikey/{api_key.pk}/change/").content.decode()
    assert key not in page
    assert api_key.prefix in page


def test_an_api_keys_scope_is_chosen_when_it_is_created_then_fixed(admin_client_for, org_a):
    client = admin_client_for(member(org_a, Role.ADMIN))

    # No scope chosen: the form again, nothing created (no silent default)
    response = client.post("/admin/crm/apikey/add/", {"organization": org_a.pk, "name": "Shop"})
    assert response.status_code == 200
    assert "scope" in form_errors(response)
    assert not ApiKey.objects.filter(name="Shop").exists()
    form = client.get("/admin/crm/apikey/add/", HTTP_ACCEPT_LANGUAGE="en").text
    assert 'type="radio" name="scope" value="read"' in form
    assert 'type="radio" name="scope" value="read_write"' in form
    assert "_addanother" not in form  # one way out: the page showing the key

    client.post(
        "/admin/crm/apikey/add/",
        {"organization": org_a.pk, "name": "Shop", "scope": "read_write"},
    )
    api_key = ApiKey.objects.get(name="Shop")
    assert api_key.scope == ApiKey.Scope.READ_WRITE
    listing = client.get("/admin/crm/apikey/", HTTP_ACCEPT_LANGUAGE="en").text
    assert "Read and write" in listing
    page = client.get(f"/admin/crm/apikey/{api_key.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Read and write" in page.text
    assert 'name="scope"' not in page.text


def test_a_staff_member_cannot_create_an_api_key(admin_client_for, staff_user_a, org_a):
    response = admin_client_for(staff_user_a).post(
        "/admin/crm/apikey/add/", {"organization": org_a.pk, "name": "Sneaky", "scope": "read"}
    )

    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="Sneaky").exists()


def test_an_api_key_cannot_be_created_for_another_organization(admin_client_for, org_a, org_b):
    response = admin_client_for(member(org_a, Role.ADMIN)).post(
        "/admin/crm/apikey/add/", {"organization": org_b.pk, "name": "Sneaky", "scope": "read"}
    )

    assert response.status_code == 200
    assert "organization" in form_errors(response)
    assert not ApiKey.objects.filter(name="Sneaky").exists()


def test_the_revoke_action_revokes_the_selected_keys_of_the_organization(
    admin_client_for, org_a, org_b, client
):
    # Given two keys of A and one of B, and an administrator of A
    revoked, revoked_key = api_key_for(org_a, name="old")
    kept, kept_key = api_key_for(org_a, name="current")
    theirs, _ = api_key_for(org_b, name="theirs")
    org_admin = admin_client_for(member(org_a, Role.ADMIN))
    before = timezone.now()

    # When they revoke the first key, with B's key forged into the selection
    response = org_admin.post(
        "/admin/crm/apikey/",
        {"action": "revoke", "_selected_action": [revoked.pk, theirs.pk]},
        follow=True,
    )

    # Then that key is revoked now and no longer authenticates
    assert [str(m) for m in response.context["messages"]] == ["1 API key revoked."]
    for row in (revoked, kept, theirs):
        row.refresh_from_db()
    assert before <= revoked.revoked_at <= timezone.now()
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {revoked_key}"}
    assert client.get("/api/v1/customers/", **auth).status_code == 401
    # While the other key of A, and B's key, are untouched
    assert kept.revoked_at is None
    assert theirs.revoked_at is None
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {kept_key}"}
    assert client.get("/api/v1/customers/", **auth).status_code == 200


# --- Cost ----------------------------------------------------------------------------


def test_the_customer_changelist_queries_do_not_grow_with_its_length(
    admin_client_for, staff_user_a, org_a, django_assert_max_num_queries
):
    client = admin_client_for(staff_user_a)
    CustomerFactory.create_batch(3, organization=org_a)
    client.get("/admin/crm/customer/")  # warm the session and content types

    with django_assert_max_num_queries(12) as few:
        client.get("/admin/crm/customer/")
    CustomerFactory.create_batch(40, organization=org_a)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/admin/crm/customer/")

    assert response.context["cl"].result_count == 43
