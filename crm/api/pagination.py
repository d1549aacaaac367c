"""Page-number pagination for every list, strict about its input, and its schema."""

from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, serializers


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        """`page_size`: a whole number from 1, capped at `max_page_size`; else a 400.

        DRF silently falls back to the default page size on `page_size=abc`, which
        hides a client's bug behind a page of the wrong size. Empty means not given,
        as for every query parameter.
        """
        values = [value for value in request.query_params.getlist("page_size") if value != ""]
        if not values:
            return self.page_size
        field = serializers.IntegerField(min_value=1)  # its messages, already translated
        if len(values) > 1 or not values[0].isdecimal():
            raise exceptions.ValidationError({"page_size": [field.error_messages["invalid"]]})
        try:
            size = field.run_validation(values[0])
        except exceptions.ValidationError as error:
            raise exceptions.ValidationError({"page_size": error.detail}) from None
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        """A page that does not exist (`page=abc`, `page=999`) is a 400 too, not DRF's 404."""
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({"page": [str(exc.detail)]}) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1  # more than `max_page_size`: capped
            if parameter["name"] == self.page_query_param:
                # Pages count from 1: `page=0` and negative pages are a 400, as said here.
                parameter["schema"]["minimum"] = 1
                parameter["description"] = _(
                    "A page number, from 1; a page past the last is a 400 (error shape)."
                )
        return parameters


def _error() -> dict:
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": "",
    }


def document_page_errors(result, generator, request, public):
    """drf-spectacular post-processing: a paginated list can answer 400 (bad `page` or
    `page_size`), even one whose view has no other input to refuse."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            parameters = operation.get("parameters", []) if isinstance(operation, dict) else []
            if any(p.get("name") == "page" and p.get("in") == "query" for p in parameters):
                operation.setdefault("responses", {}).setdefault("400", _error())
    return result
