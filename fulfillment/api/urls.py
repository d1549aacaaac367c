"""The fulfillment API: batches, their lines, shipments."""

from rest_framework.routers import SimpleRouter

from fulfillment.api.views import BatchLineViewSet, BatchViewSet, ShipmentViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("batches", BatchViewSet, basename="batch")
router.register("batch-lines", BatchLineViewSet, basename="batch-line")
router.register("shipments", ShipmentViewSet, basename="shipment")

urlpatterns = router.urls
