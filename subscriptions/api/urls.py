from rest_framework.routers import SimpleRouter

from subscriptions.api.views import SubscriptionViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("subscriptions", SubscriptionViewSet, basename="subscription")

urlpatterns = router.urls
