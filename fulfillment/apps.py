from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self):
        # The layers below fulfillment read the cut-off rule through a port (core.cycles),
        # and a paid charge tells its box it may ship through a signal of subscriptions.
        from core import cycles
        from fulfillment import receivers  # noqa: F401 - connects the signal receivers
        from fulfillment.selectors import DeliveryCalendar

        cycles.install(DeliveryCalendar())
