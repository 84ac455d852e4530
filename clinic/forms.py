"""Form helpers shared by the admin and the pages."""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError


def errors_onto(
    form: forms.Form, exc: ValidationError | PermissionDenied, aliases: dict | None = None
) -> None:
    """Put a service's refusal on the form, next to the field it names.

    `aliases` maps a service's field name to the form's (a move's "starts_at" is the
    form's "new_date"); names with no field, and PermissionDenied, go to the form's top."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    aliases = aliases or {}
    for name, messages in exc.message_dict.items():
        target = aliases.get(name, name)
        if target in form.fields:
            form.add_error(target, messages)
        else:
            label = name.replace("_", " ").capitalize()
            form.add_error(None, [f"{label}: {m}" for m in messages])
