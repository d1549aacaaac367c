"""The WooCommerce sync in the back office: shops, their webhook deliveries, mappings, orders.

A shop's page gives the address to paste into WooCommerce and takes its
secrets, which are never sent back to the browser: their inputs are always
empty, an empty input keeps what is stored, and the page only says whether
each is set. Its buttons test the REST API credentials and queue a
reconciliation. Its inline maps the shop's meta keys and attributes to the
organization's preferences. Deliveries, mappings and orders are written by
the sync and only read here; a delivery can be sent to be processed again.

As everywhere in the admin, a staff member sees only their organizations' rows
(another's is a 404) and acts according to their role: viewers read; staff also
reprocess deliveries; a shop's connection (its URL, secrets and REST keys) and its
buttons, which send those keys to the shop, are its organization's administrators'
(staff read the shop's page and its webhook health).
"""

from woocommerce.admin import deliveries, records, shops

__all__ = ["deliveries", "records", "shops"]
