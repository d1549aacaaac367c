"""Reading the OpenAPI schema in tests."""

#: What every operation may answer from the API's common layers (crm/api/schema.py):
#: a read-only key's 403, a body too large (413) or not JSON (415), too many requests (429).
COMMON_REFUSALS = frozenset({"403", "413", "415", "429"})


def own_responses(responses: dict) -> set[str]:
    """The statuses an operation documents besides the common refusals."""
    return set(responses) - COMMON_REFUSALS
