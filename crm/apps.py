from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from crm import lookups  # noqa: F401 - registers `__any`
        from crm.middleware import remember_staff_locale

        # The staff member's language and time zone, read once per session.
        user_logged_in.connect(remember_staff_locale, dispatch_uid="crm.remember_staff_locale")
