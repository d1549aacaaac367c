"""The language switch of the admin's header."""

from __future__ import annotations

from django.conf import settings
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from crm.middleware import LANGUAGE_SESSION_KEY
from crm.models import StaffProfile


@require_POST
def set_language(request):
    """Django's `set_language`, which also keeps a staff member's choice in their profile.

    So the admin speaks it on every device they log in from, whatever the browser says.
    """
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if (
        language in dict(settings.LANGUAGES)
        and request.user.is_authenticated
        and request.user.is_staff
    ):
        StaffProfile.objects.update_or_create(user=request.user, defaults={"language": language})
        request.session[LANGUAGE_SESSION_KEY] = language
    return response
