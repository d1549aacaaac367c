"""The CRM core every other app extends: tenancy, customers, products, contracts."""
