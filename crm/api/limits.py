"""How much one API request may carry: beyond, a 400 in the error shape, nothing written.

Each bound is far above what an integration needs and low enough that the largest valid
request finishes in well under a second (tests/crm/test_api_limits.py); each shows in the
OpenAPI schema (`maxItems`, `maxProperties`). The body's size and nesting depth are
bounded before any of this (crm.api.parsers).
"""

#: A customer's addresses, sent together (they replace the stored ones).
ADDRESSES_MAX = 20
#: A product's variants, sent together (they replace the stored ones).
VARIANTS_MAX = 100
#: The items of a subscription (create, change items) or of an after-sales case.
ITEMS_MAX = 50
#: Lines or codes prepared in one bulk request.
BULK_IDS_MAX = 5000
#: Preference values in one write (an organization's schema is far smaller).
PREFERENCE_VALUES_MAX = 100
#: Subscriptions acted on by one bulk action (pause, skip, swap, move the next date).
BULK_SUBSCRIPTIONS_MAX = 500
