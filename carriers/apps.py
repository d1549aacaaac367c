from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CarriersConfig(AppConfig):
    name = "carriers"
    verbose_name = _("Carriers")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Fulfillment reads the boxes' parcels through a port (fulfillment.parcels).
        from carriers.selectors import LineParcelsOfCarriers
        from fulfillment import parcels

        parcels.install(LineParcelsOfCarriers())
