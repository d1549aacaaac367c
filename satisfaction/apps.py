from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SatisfactionAppConfig(AppConfig):
    name = "satisfaction"
    verbose_name = _("Satisfaction")
