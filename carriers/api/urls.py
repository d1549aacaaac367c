"""The carriers API: parcels, a batch's labels, a shipment's parcel."""

from rest_framework.routers import SimpleRouter

from carriers.api.views import BatchLabelsViewSet, ParcelViewSet, ShipmentParcelViewSet

# With or without the trailing slash: an API never answers with a redirect.
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("parcels", ParcelViewSet, basename="parcel")
router.register("batches", BatchLabelsViewSet, basename="batch-labels")
router.register("shipments", ShipmentParcelViewSet, basename="shipment-parcel")

urlpatterns = router.urls
