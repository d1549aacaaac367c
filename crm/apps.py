from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_delete, post_save

        from core import lookups  # noqa: F401 - registers `__any`
        from crm.middleware import remember_staff_locale
        from crm.models import Membership

        # The staff member's language and time zone, read once per session.
        user_logged_in.connect(remember_staff_locale, dispatch_uid="crm.remember_staff_locale")
        # Staff status follows membership, whoever writes the membership (the admin's
        # generic form, a cascade, load_demo): see crm.services.user_staff_status_sync.
        post_save.connect(_membership_changed, sender=Membership, dispatch_uid="crm.staff_status")
        post_delete.connect(
            _membership_changed, sender=Membership, dispatch_uid="crm.staff_status_delete"
        )


def _membership_changed(sender, instance, **kwargs) -> None:
    from crm.services import user_staff_status_sync

    user_staff_status_sync(user_id=instance.user_id)
