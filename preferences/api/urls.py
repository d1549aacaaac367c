from rest_framework.routers import SimpleRouter

from preferences.api.views import PreferenceFieldViewSet, SubscriptionPreferenceViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("preference-fields", PreferenceFieldViewSet, basename="preference-field")
# Only `subscriptions/{id}/preferences[/history]`: this view set has no list or detail route.
router.register("subscriptions", SubscriptionPreferenceViewSet, basename="subscription-preference")

urlpatterns = router.urls
