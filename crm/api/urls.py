from rest_framework.routers import SimpleRouter

from crm.api.views import CustomerViewSet, ProductViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("customers", CustomerViewSet, basename="customer")
router.register("products", ProductViewSet, basename="product")

urlpatterns = router.urls
