"""The demo data `manage.py load_demo` writes: months of a roaster's life replayed through the
services (decision 17). One module per app; they belong to the back office, the layer that may
read every app.
"""
