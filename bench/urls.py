"""The product's URLs plus `/bench/ok`, a trivial view: the webhook benchmark's baseline.

Only config/settings/bench.py points ROOT_URLCONF here, so the view is never
part of the product. It reads the body (as the receiver does) and answers a
short JSON 200; it is CSRF-exempt like the receiver (a DRF APIView).
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def ok(request):
    return JsonResponse({"message": "ok", "extra": {"bytes": len(request.body)}})


urlpatterns = [path("bench/ok", ok, name="bench-ok"), *product_urlpatterns]
