"""The returns API: after-sales cases and their reasons."""

from rest_framework.routers import SimpleRouter

from returns.api.views import ReturnReasonViewSet, ReturnRequestViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("returns", ReturnRequestViewSet, basename="return-request")
router.register("return-reasons", ReturnReasonViewSet, basename="return-reason")

urlpatterns = router.urls
