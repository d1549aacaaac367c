from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WoocommerceConfig(AppConfig):
    name = "woocommerce"
    verbose_name = _("WooCommerce")
