"""Staff pages outside the admin: the packing room's exports."""

from django.urls import path

from fulfillment import views

app_name = "fulfillment"
urlpatterns = [
    # kind: pick-list, packing-slips or production-plan, then .csv or .html
    path("batches/<int:pk>/export/<str:kind>", views.batch_export, name="batch-export"),
]
