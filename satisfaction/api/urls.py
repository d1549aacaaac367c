"""The satisfaction API (built by the API work of issue 9)."""

urlpatterns: list = []
