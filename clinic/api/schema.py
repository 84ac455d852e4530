"""Post-processing of the OpenAPI schema so it says exactly what the API does."""

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error has this shape; `errors` names each field and its rule.",
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["status", "code", "detail", "errors"],
}
ERRORS = {
    "400": "Invalid input or a business rule refused it; nothing was written.",
    "401": "Not signed in: send a session cookie or `Authorization: Token <key>`.",
    "403": "Your role may not do this.",
    "404": "No such object among those you may see (or no such page).",
}
# Local wall-clock times ("10:00" or "10:00:00") carry no offset, unlike RFC 3339's
# full-time that JSON Schema's "time" format means.
LOCAL_TIME = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"}


def _local_times(node):
    if isinstance(node, dict):
        if node.get("format") == "time" and node.get("type") == "string":
            node.pop("format")
            node["pattern"] = LOCAL_TIME["pattern"]
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def postprocess(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():  # every error has the one shape
                if code >= "400" and "content" not in response:
                    response["content"] = {"application/json": {"schema": ref}}
    _local_times(result)
    return result
