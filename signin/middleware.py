"""Staff sessions without the second factor their account needs are signed out.

The login (signin.views) logs such a person in only after a code, so this is
for sessions opened before: before they set up an app on another device, or
before their organization started to require one. Runs after django-otp's
`OTPMiddleware` (which knows the device that verified the session): one query
per staff request, none for anyone else.
"""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse

from signin.selectors import second_factor_needed


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and (user.is_staff or user.is_superuser)
            and not user.is_verified()
            and second_factor_needed(user=user)
        ):
            path = request.get_full_path()
            logout(request)
            return redirect_to_login(path, reverse("admin:login"))
        return self.get_response(request)
