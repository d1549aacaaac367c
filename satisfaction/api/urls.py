"""The satisfaction API: the surveys and the NPS report."""

from rest_framework.routers import SimpleRouter

from satisfaction.api.views import SatisfactionReportViewSet, SatisfactionSurveyViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("surveys", SatisfactionSurveyViewSet, basename="satisfaction-survey")
router.register("satisfaction", SatisfactionReportViewSet, basename="satisfaction-report")

urlpatterns = router.urls
