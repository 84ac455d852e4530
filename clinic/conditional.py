"""Conditional GET for what screens poll (the day board, the chart): an ETag made of what
the resource's validator read and of who is asking, and `304 Not Modified` when the
client already holds that version, so a poll that finds nothing new costs the caller's
sign-in and the validator's query, not a page.

Django's conditional view processing (`get_conditional_response`, what the `condition`
decorator runs), called inside the view once the caller's access is checked: the
access check and the validator share one read, and nobody learns from a 304 what a 404
would hide. A 304 sends no patient data, so it logs no read (the 200 that sent the data
logged it).

Read the validator before the content: a write between the two then gives a new body
with the old tag, which the next poll replaces; the other way round a client would keep
an old body under a new tag.
"""

import hashlib

from django.contrib import messages
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    patch_vary_headers,
    quote_etag,
)

from clinic.api.base import caller


def etag(request, *parts) -> str:
    """A strong ETag for `parts` (what the resource's validator read, as plain values) as
    this caller sees them: the URL with its query, the user and their roles (what a page
    offers depends on them), the CSRF secret the page's forms carry (a new one at each
    sign-in), and whether htmx asked for the fragment. Hashed: no data in a header."""
    c = caller(request)
    who = (
        request.user.pk,
        c.is_superuser,
        sorted((clinic, sorted(roles)) for clinic, roles in c.roles.items()),
    )
    asked = (
        request.get_full_path(),
        request.META.get("CSRF_COOKIE", ""),
        bool(getattr(request, "htmx", False)),
    )
    digest = hashlib.sha256(repr((who, asked, parts)).encode()).hexdigest()
    return quote_etag(digest[:32])


def respond(request, parts: tuple, build):
    """A poll's answer: `304 Not Modified` when the client holds the ETag of `parts` (see
    `etag`), else `build()` (the view's response, built only then) with that ETag."""
    tag = etag(request, *parts)
    if (unchanged := not_modified(request, tag)) is not None:
        return unchanged
    return validated(build(), tag)


def not_modified(request, tag: str):
    """The 304 for a GET whose If-None-Match holds `tag`, with the headers of a 200; None
    when the client must be sent the resource, as always while a flash message waits
    (the page would show it, and a 304 would leave it for the next page)."""
    if len(messages.get_messages(request)):
        return None
    response = get_conditional_response(request, etag=tag)
    return None if response is None else validated(response, tag)


def validated(response, tag: str):
    """`response` with its ETag, for this user only and to be revalidated before any
    reuse (`private, no-cache`); it varies with htmx's header (fragment or page) and the
    credentials sent."""
    response.headers.setdefault("ETag", tag)
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ["HX-Request", "Cookie", "Authorization"])
    return response
