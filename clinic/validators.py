import zoneinfo
from functools import lru_cache

from django.core.exceptions import ValidationError


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """An IANA time zone name such as Europe/London; 'BST' or '+01:00' are refused."""
    if value not in _known_timezones():
        raise ValidationError(
            "Unknown time zone %(value)s: use an IANA name such as Europe/London.",
            code="unknown_timezone",
            params={"value": value},
        )
