"""The back office's fulfillment pages: cut-off settings, batches, their lines and shipments.

Settings are one row per organization, chosen by its administrators (everyone
may read them). Batches, lines and shipments change only through
`fulfillment.services`:

- a batch's page is read-only; its buttons (django-fsm-2's `FSMAdminMixin`
  through `crm.fsm_admin.ServiceActionsAdminMixin`: Lock, Dispatch, Complete,
  Cancel) each open a short confirmation form whose submission calls the
  matching service, and a refusal comes back as an error message with nothing
  written. While the batch is open the page shows a live preview of its boxes;
  from the lock on, what its lines hold. A locked batch's page has a "scan a
  line code" field for the packing room.
- lines are listed read-only, with filters by batch, status, product and
  preference value, and the bulk actions "Mark prepared" and "Exclude".
- a shipment's carrier and tracking number are edited on its page (saved by
  `shipment_update`); its status moves with the list's actions.

Who may act is decided as on the subscriptions' pages: the "change" role
(staff) of the row's organization; viewers see the pages without buttons.
On a batch's, line's or shipment's page times are in its organization's zone.

What these pages show of the after-sales cases (returns, a layer above) is
added by the back office: `dashboard.fulfillment_admin`.
"""

from fulfillment.admin.batch_page import EXPORTS
from fulfillment.admin.batches import BatchAdmin
from fulfillment.admin.lines import BatchLineAdmin
from fulfillment.admin.settings import FulfillmentSettingsAdmin
from fulfillment.admin.shipments import ShipmentAdmin

__all__ = [
    "EXPORTS",
    "BatchAdmin",
    "BatchLineAdmin",
    "FulfillmentSettingsAdmin",
    "ShipmentAdmin",
]
