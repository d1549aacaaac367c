"""Demo data for `make run`: the roaster "Purea Café", its products, customers and subscriptions.

Safe to run again: rows are matched on their natural keys and updated. Each
run sets new passwords for the demo logins and a new demo API key (the old
one is revoked), and prints them. A progress bar over its steps goes to the
error output when it is a terminal (`--progress` / `--no-progress`), and each
run is recorded as a "demo data" operation of Purea Café, so the admin shows
when the demo data was loaded.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from crm import services
from crm.models import (
    Address,
    ApiKey,
    Contract,
    Customer,
    Membership,
    Organization,
    Product,
    Variant,
)
from dashboard.demo import carriers as carriers_demo
from dashboard.demo import fulfillment as fulfillment_demo
from dashboard.demo import portal as portal_demo
from dashboard.demo import preferences as preferences_demo
from dashboard.demo import returns as returns_demo
from dashboard.demo import satisfaction as satisfaction_demo
from dashboard.demo import subscriptions as subscriptions_demo
from dashboard.demo import woocommerce as woocommerce_demo
from operations.models import STEP_LABELS, Operation
from operations.progress import add_progress_arguments, step_bar, wants_progress
from operations.services import operation_finish, operation_run, operation_start

DEMO_KEY_NAME = "Demo integration"

#: The language of both demo organizations (Purea Café, Maison du Thé).
DEMO_LANGUAGE = "fr"
#: The steps of a load, as `operations.models.STEP_LABELS` codes, in order.
STEPS = ("organizations", "subscriptions", "preferences", "batches", "surveys", "cases", "shop")

#: Purea's coffees: (SKU, name, description, price, its SKU before it had variants,
#: variants as (SKU, option, price, grams)). A coffee with variants is sold in 250 g and
#: 1 kg bags; the discovery box is a simple product.
PRODUCTS = [
    (
        "PUR-ETH",
        "Éthiopie Yirgacheffe",
        "Floral, agrumes, thé noir.",
        "11.90",
        "PUR-ETH-250",
        [("PUR-ETH-250", "250 g", "11.90", 250), ("PUR-ETH-1KG", "1 kg", "39.90", 1000)],
    ),
    (
        "PUR-COL",
        "Colombie Huila",
        "Caramel, pomme rouge.",
        "10.50",
        "PUR-COL-250",
        [("PUR-COL-250", "250 g", "10.50", 250), ("PUR-COL-1KG", "1 kg", "35.50", 1000)],
    ),
    (
        "PUR-BRA",
        "Brésil Cerrado",
        "Chocolat, noisette.",
        "9.50",
        "PUR-BRA-1KG",
        [("PUR-BRA-250", "250 g", "9.50", 250), ("PUR-BRA-1KG", "1 kg", "32.00", 1000)],
    ),
    (
        "PUR-DEC",
        "Décaféiné Pérou",
        "Procédé à l'eau, cacao.",
        "11.50",
        "PUR-DEC-250",
        [("PUR-DEC-250", "250 g", "11.50", 250), ("PUR-DEC-1KG", "1 kg", "38.50", 1000)],
    ),
    (
        "PUR-ESP",
        "Assemblage Espresso",
        "Corsé, notes de cacao.",
        "10.40",
        "PUR-ESP-500",
        [("PUR-ESP-250", "250 g", "10.40", 250), ("PUR-ESP-1KG", "1 kg", "34.90", 1000)],
    ),
    (
        "PUR-DIS-250",
        "Découverte du mois 250 g",
        "Une origine différente chaque mois.",
        "12.90",
        "",
        [],
    ),
]
#: The attribute a coffee's variants differ by.
WEIGHT_ATTRIBUTE = "Poids"

CUSTOMERS = [
    ("camille.martin@example.fr", "Camille", "Martin", "fr", "8 rue Mercière", "69002", "Lyon"),
    ("lucas.bernard@example.fr", "Lucas", "Bernard", "fr", "21 quai Fosse", "44000", "Nantes"),
    ("emma.dubois@example.fr", "Emma", "Dubois", "fr", "3 place du Capitole", "31000", "Toulouse"),
    ("hugo.thomas@example.fr", "Hugo", "Thomas", "fr", "57 rue d'Alsace", "67000", "Strasbourg"),
    ("chloe.robert@example.fr", "Chloé", "Robert", "fr", "12 cours Julien", "13006", "Marseille"),
    ("louis.richard@example.fr", "Louis", "Richard", "fr", "9 rue Nationale", "59000", "Lille"),
    ("lea.petit@example.fr", "Léa", "Petit", "fr", "40 rue Sainte-Catherine", "33000", "Bordeaux"),
    ("olivia.smith@example.co.uk", "Olivia", "Smith", "en", "14 rue de Rivoli", "75004", "Paris"),
    ("jules.durand@example.fr", "Jules", "Durand", "fr", "2 rue de la Monnaie", "35000", "Rennes"),
    ("ines.leroy@example.fr", "Inès", "Leroy", "fr", "18 avenue Jean Médecin", "06000", "Nice"),
]


class Command(BaseCommand):
    help = "Load the demo organization (Purea Café) and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("DEMO_PASSWORD") or None,
            help="Password for the demo logins (default: $DEMO_PASSWORD, else a new random one).",
        )
        add_progress_arguments(parser)

    @transaction.atomic
    def handle(self, *args, password=None, progress=None, **options):
        password = password or secrets.token_urlsafe(9)
        bar = step_bar(
            _("Demo data"),
            len(STEPS),
            self.stderr,
            wants_progress(progress, self.stderr),
            unit=_("step"),
        )
        labels = {name: str(label) for name, label in STEP_LABELS.items()}  # the command's language
        try:
            # The demo organizations are French: what their services write (timelines,
            # case notes, history) is in French, as when their staff use the admin.
            with translation.override(DEMO_LANGUAGE):
                loaded = self._load(password, bar, labels)
        finally:
            bar.close()
        self._print(password, loaded)

    def _load(self, password, bar, labels):
        def step(name: str) -> None:
            bar.n = STEPS.index(name)  # the steps before it are done
            bar.set_postfix_str(labels[name], refresh=False)
            bar.refresh()

        step("organizations")
        purea = self._organization("purea-cafe", "Purea Café", "EUR", "fr")
        # Recorded in this load's transaction: a load that fails leaves no trace, and
        # the bar above is what one watches while it runs.
        operation = operation_start(
            organization=purea, kind=Operation.Kind.DEMO_DATA, subject=purea.name
        )
        operation = operation_run(operation_id=operation.pk)
        products = self._products(purea)
        customers = self._customers(purea)
        Contract.objects.update_or_create(
            organization=purea,
            reference="B2B-2026-001",
            defaults={"customer": customers[0], "title": "Bureau Lyon Part-Dieu, 5 kg / mois"},
        )
        # A second tenant, so the isolation between organizations can be seen.
        tea = self._organization("maison-du-the", "Maison du Thé", "EUR", "fr")
        Product.objects.update_or_create(
            organization=tea,
            sku="THE-SEN-100",
            defaults={"name": "Sencha 100 g", "unit_price": Decimal("9.50")},
        )

        superuser = self._user("admin", "admin@example.com", password, superuser=True)
        manager = self._user("marie", "marie@purea.example", password, superuser=False)
        Membership.objects.update_or_create(
            user=manager, organization=purea, defaults={"role": Membership.Role.ADMIN}
        )
        # The tea house's own administrator: log in as both to see the tenancy.
        tea_admin = self._user("camille", "camille@maisondethe.example", password, superuser=False)
        Membership.objects.update_or_create(
            user=tea_admin, organization=tea, defaults={"role": Membership.Role.ADMIN}
        )
        ApiKey.objects.filter(organization=purea, name=DEMO_KEY_NAME).delete()
        _api_key, key = services.api_key_create(
            organization=purea,
            name=DEMO_KEY_NAME,
            scope=ApiKey.Scope.READ_WRITE,  # the demo tries every route
            created_by=superuser,
        )
        step("subscriptions")
        subscriptions = subscriptions_demo.load(
            purea=purea, tea=tea, purea_staff=manager, tea_staff=superuser
        )
        # Before the batches: the preferences' history, dated when the subscribers wrote
        # it, so the past boxes carry what was in force at their cut-off.
        step("preferences")
        preferences = preferences_demo.load(purea=purea, tea=tea, purea_staff=manager)
        step("batches")
        batches = fulfillment_demo.load(organization=purea, staff=manager)
        fulfillment_demo.load(organization=tea, staff=superuser)
        preferences_demo.open_batches(purea=purea, tea=tea)
        # Last week's prepared boxes labelled on the fictitious carrier platform (dev only).
        carrier = carriers_demo.load(organization=purea)
        # After the batches (it ships the weeks before them) and before the cases (the
        # scheduler skips customers with an open case, and they had none back then).
        step("surveys")
        surveys = satisfaction_demo.load(organization=purea, staff=manager)
        # After the batches: the cases are about their delivered boxes.
        step("cases")
        cases = returns_demo.load(organization=purea, staff=manager)
        returns_demo.load(organization=tea, staff=superuser)
        satisfaction_demo.follow_up(organization=purea, staff=manager, result=surveys)
        step("shop")
        shop = woocommerce_demo.load(organization=purea)
        portal = portal_demo.load(organization=purea, shop_url=shop.base_url)
        bar.n = len(STEPS)
        bar.refresh()
        operation.done, operation.total = len(STEPS), len(STEPS)
        operation_finish(
            operation=operation,
            summary=(
                f"{len(products)} products, {len(customers)} customers, "
                f"{batches['batches']} batches, {cases['cases']} after-sales cases."
            ),
        )
        return {
            "purea": purea,
            "products": products,
            "customers": customers,
            "subscriptions": subscriptions,
            "preferences": preferences,
            "batches": batches,
            "carrier": carrier,
            "cases": cases,
            "surveys": surveys,
            "shop": shop,
            "portal": portal,
            "key": key,
        }

    def _print(self, password, loaded) -> None:
        purea, products, customers = loaded["purea"], loaded["products"], loaded["customers"]
        subscriptions, preferences = loaded["subscriptions"], loaded["preferences"]
        batches, cases, surveys = loaded["batches"], loaded["cases"], loaded["surveys"]
        shop, key = loaded["shop"], loaded["key"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {purea.name} with {len(products)} products and "
                f"{len(customers)} customers."
            )
        )
        self.stdout.write(subscriptions_demo.summary(subscriptions))
        self.stdout.write(
            f"Demo preferences: {preferences['fields']} fields for {purea.name}, "
            f"{preferences['new']} subscriptions given values now."
        )
        if batches["batches"]:
            self.stdout.write(
                f"Demo batches: {batches['batches']} for {purea.name} (three past weeks and "
                f"the open one), {batches['lines']} lines, {batches['shipments']} shipments."
            )
        self.stdout.write(carriers_demo.summary(purea, loaded["carrier"]))
        if cases["cases"]:
            self.stdout.write(
                f"Demo after-sales cases: {cases['cases']} for {purea.name}, "
                f"{cases['overdue']} overdue."
            )
        if surveys.surveys:
            self.stdout.write(satisfaction_demo.summary(purea, surveys))
        base_url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Admin:        {base_url}/admin/",
                    f"  Superuser:    admin / {password}",
                    f"  Staff (Purea Café admin): marie / {password}",
                    f"  Staff (Maison du Thé admin): camille / {password}",
                    f"  API docs:     {base_url}/api/docs/",
                    f"  API key:      Authorization: Api-Key {key}",
                    f"  WooCommerce webhook: {base_url}{shop.webhook_path()}",
                    f"  Webhook secret:      {woocommerce_demo.DEMO_SECRET}",
                    *portal_demo.summary(base_url, loaded["portal"]),
                    "",
                ]
            )
        )

    def _organization(self, slug, name, currency, language):
        organization, _created = Organization.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "timezone": "Europe/Paris",
                "currency": currency,
                "language": language,
            },
        )
        return organization

    def _products(self, organization):
        products = []
        for sku, name, description, price, before, variants in PRODUCTS:
            existing = Product.objects.filter(organization=organization)
            if before and before != sku and not existing.filter(sku=sku).exists():
                # A demo loaded before its coffees had variants: the product keeps its rows.
                existing.filter(sku=before).update(sku=sku)
            product, _created = Product.objects.update_or_create(
                organization=organization,
                sku=sku,
                defaults={"name": name, "description": description, "unit_price": Decimal(price)},
            )
            for position, (variant_sku, option, variant_price, grams) in enumerate(variants):
                Variant.objects.update_or_create(
                    organization=organization,
                    sku=variant_sku,
                    defaults={
                        "product": product,
                        "attributes": [{"name": WEIGHT_ATTRIBUTE, "option": option}],
                        "unit_price": Decimal(variant_price),
                        "net_weight_grams": grams,
                        "active": True,
                        "position": position,
                    },
                )
            products.append(product)
        return products

    def _customers(self, organization):
        customers = []
        for email, first, last, language, line1, postcode, city in CUSTOMERS:
            customer, _created = Customer.objects.update_or_create(
                organization=organization,
                email=email,
                defaults={"first_name": first, "last_name": last, "language": language},
            )
            Address.objects.update_or_create(
                organization=organization,
                customer=customer,
                kind=Address.Kind.SHIPPING,
                defaults={
                    "name": f"{first} {last}",
                    "line1": line1,
                    "postcode": postcode,
                    "city": city,
                    "country": "FR",
                },
            )
            customers.append(customer)
        return customers

    def _user(self, username, email, password, *, superuser):
        user, _created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": email}
        )
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(password)
        user.save()
        # The printed login works at once, even after a lockout from earlier tries
        # (a second factor the person set up stays: the login asks for its code).
        from axes.utils import reset as axes_reset

        axes_reset(username=username)
        return user
