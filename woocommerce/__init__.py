"""One-way sync WooCommerce -> CRM: webhooks, per-entity processing, reconciliation."""
