"""The portal's addresses, under /p/<organization slug>/ (config/urls.py).

Object ids in a route are named `subscription_id`, `shipment_id`, `case_id`, `survey_id`
(and a delivery date `on`, YYYY-MM-DD): tests/portal/test_isolation.py fills them with
another customer's and another organization's ids for every route, so a route with a new
kind of id must teach the sweep about it.
"""

from django.urls import path

from portal.views import account, cases, details, home, schedule

app_name = "portal"
urlpatterns = [
    # --- the organization's look ----------------------------------------------------------
    path("theme.css", home.theme, name="theme"),
    # --- access (portal/views/account.py) --------------------------------------------------
    path("sign-in/", account.sign_in, name="sign-in"),
    path("sign-in/code/", account.enter_code, name="sign-in-code"),
    path("sign-in/link/<str:token>/", account.sign_in_link, name="sign-in-link"),
    path("sign-out/", account.sign_out, name="sign-out"),
    path("sign-out/everywhere/", account.sign_out_everywhere, name="sign-out-everywhere"),
    # --- what the subscriber sees (portal/views/home.py) -----------------------------------
    path("", home.home, name="home"),
    path("subscriptions/<int:subscription_id>/", home.subscription, name="subscription"),
    path("boxes/", home.boxes, name="boxes"),
    path("charges/", home.charges, name="charges"),
    # --- the schedule of a subscription the product manages (portal/views/schedule.py) ----
    path("subscriptions/<int:subscription_id>/skip/<str:on>/", schedule.skip, name="skip"),
    path("subscriptions/<int:subscription_id>/unskip/<str:on>/", schedule.unskip, name="unskip"),
    path("subscriptions/<int:subscription_id>/pause/", schedule.pause, name="pause"),
    path("subscriptions/<int:subscription_id>/resume/", schedule.resume, name="resume"),
    path("subscriptions/<int:subscription_id>/frequency/", schedule.frequency, name="frequency"),
    path("subscriptions/<int:subscription_id>/swap/", schedule.swap, name="swap"),
    path("subscriptions/<int:subscription_id>/cancel/", schedule.cancel, name="cancel"),
    # --- preferences and address (portal/views/details.py) ---------------------------------
    path(
        "subscriptions/<int:subscription_id>/preferences/",
        details.preferences,
        name="preferences",
    ),
    path("subscriptions/<int:subscription_id>/address/", details.address, name="address"),
    # --- after-sales cases and surveys (portal/views/cases.py) -----------------------------
    path("cases/", cases.case_list, name="cases"),
    path("boxes/<int:shipment_id>/case/", cases.case_open, name="case-open"),
    path("cases/<int:case_id>/", cases.case_detail, name="case"),
    # A photo of the case: ?photo=<id> (the sweep's case_id stays the route's only id).
    path("cases/<int:case_id>/photo/", cases.case_photo, name="case-photo"),
    path("surveys/<int:survey_id>/", cases.survey, name="survey"),
    path("surveys/stop/", cases.surveys_stop, name="surveys-stop"),
]
