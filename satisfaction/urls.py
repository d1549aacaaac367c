"""The customer's side: the answer page behind a survey e-mail's link."""

from django.urls import path

from satisfaction import views

app_name = "satisfaction"
urlpatterns = [
    path("s/<str:token>/", views.survey_page, name="survey"),
    path("s/<str:token>/thanks/", views.survey_thanks, name="thanks"),
    path("s/<str:token>/stop/", views.survey_opt_out, name="opt-out"),
]
