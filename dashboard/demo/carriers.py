"""Demo carrier for `manage.py load_demo`: labels and tracking with no platform's keys.

Purea Café's carrier account names the fictitious platform
(`carriers/platforms/demo.py`, "Demo (fictitious)"), and last week's locked
batch has its prepared boxes labelled through the real labels run
(`carriers.services.labels_create`): the batch page shows its labels, each box
its tracking number, and the parcel's page its fictitious A6 label. The
platform is allowed in development only (DEBUG or CARRIERS_DEMO_PLATFORM):
elsewhere nothing is configured and the load says why.

Idempotent: an organization with a carrier account keeps it (a real one is never
replaced), and a second run labels only the boxes prepared since.
"""

from __future__ import annotations

from dataclasses import dataclass

from carriers import services as carrier_services
from carriers.models import CarrierAccount, Parcel
from carriers.platforms import demo as demo_platform
from crm.models import Organization
from fulfillment.models import Batch

SHIPPING_METHOD = "demo:standard"
PACKAGING_GRAMS = 120


@dataclass(frozen=True)
class DemoCarrier:
    account: CarrierAccount | None
    batch: Batch | None = None
    labelled: int = 0  # the batch's labelled boxes (this run's and earlier ones)
    refused: int = 0
    skipped: str = ""  # why nothing was configured


def load(*, organization: Organization) -> DemoCarrier:
    if not demo_platform.allowed():
        return DemoCarrier(account=None, skipped=demo_platform.refusal())
    account, _created = CarrierAccount.objects.get_or_create(
        organization=organization,
        defaults={
            "platform": CarrierAccount.Platform.DEMO,
            "shipping_method": SHIPPING_METHOD,
            "packaging_grams": PACKAGING_GRAMS,
            "label_format": CarrierAccount.LabelFormat.A6,
        },
    )
    if not account.is_demo or not account.active:
        return DemoCarrier(account=account)
    batch = (
        Batch.objects.filter(organization=organization, status=Batch.Status.LOCKED)
        .order_by("-cutoff_at")
        .first()
    )
    if batch is None:
        return DemoCarrier(account=account)
    carrier_services.labels_create(batch=batch)
    parcels = Parcel.objects.filter(batch=batch)
    return DemoCarrier(
        account=account,
        batch=batch,
        labelled=parcels.filter(state=Parcel.State.LABELLED).count(),
        refused=parcels.filter(state=Parcel.State.REFUSED).count(),
    )


def summary(organization: Organization, result: DemoCarrier) -> str:
    if result.skipped:
        return f"Demo carrier: none for {organization.name} ({result.skipped})"
    if result.account is None or not result.account.is_demo:
        return f"Demo carrier: {organization.name} keeps its own carrier account."
    if result.batch is None:
        return f"Demo carrier: fictitious platform for {organization.name}, no locked batch."
    return (
        f"Demo carrier: fictitious platform for {organization.name}; {result.labelled} boxes "
        f"of the {result.batch} labelled, {result.refused} refused (labels marked DEMO)."
    )
