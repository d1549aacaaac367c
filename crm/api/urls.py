from rest_framework.routers import SimpleRouter

from crm.api.views import CustomerViewSet, ProductViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("products", ProductViewSet, basename="product")

urlpatterns = router.urls
