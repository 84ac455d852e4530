import datetime as dt
import zoneinfo
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import NON_FIELD_ERRORS as NON_FIELD
from django.core.exceptions import ValidationError
from django.utils import timezone


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


def today_anywhere(now: dt.datetime | None = None) -> dt.date:
    """Today's date where it is latest (UTC+14): a later date is in the future everywhere.

    For dates kept without a time zone (a birth date, an enrolment date), so that a date
    that is already today in Auckland is not refused by a server in London.
    """
    return ((now or timezone.now()).astimezone(dt.UTC) + dt.timedelta(hours=14)).date()


EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)


def validate_birth_date(value: dt.date) -> None:
    """A birth date from 1 January 1900 up to today: later is impossible, earlier a slip."""
    if value > today_anywhere():
        raise ValidationError(
            "A birth date cannot be in the future (%(value)s).",
            code="birth_date_in_future",
            params={"value": value.isoformat()},
        )
    if value < EARLIEST_BIRTH_DATE:
        raise ValidationError(
            "A birth date before 1900 (%(value)s) is a typing slip: check the year.",
            code="birth_date_before_1900",
            params={"value": value.isoformat()},
        )


def validate_not_in_future(value: dt.date) -> None:
    """A date something took effect (an enrolment): today at the latest."""
    if value > today_anywhere():
        raise ValidationError(
            "%(value)s is in the future: record the date it took effect, once it has.",
            code="date_in_future",
            params={"value": value.isoformat()},
        )


# A weight in kilograms, from above 0 to below this; the database's check constraints on
# every weight column say the same (Patient, CheckIn, DoseAdministration).
WEIGHT_KG_BELOW = 400


def validate_weight_kg(value: Decimal) -> None:
    """A person's weight in kilograms: above 0 and below 400."""
    if not 0 < value < WEIGHT_KG_BELOW:
        raise ValidationError(
            "%(value)s kg is not a possible weight: give it in kilograms, above 0 and "
            "below %(below)s.",
            code="weight_implausible",
            params={"value": value, "below": WEIGHT_KG_BELOW},
        )


class ConstraintErrorsOnFields:
    """Model mixin: a violated database rule is reported under the field a person would
    correct, where the admin, the pages and the API show it, rather than on the whole
    record (Django's place for a rule over several columns).

    `constraint_fields` maps a constraint's violation_error_code to that field.
    """

    constraint_fields: dict[str, str] = {}

    def validate_constraints(self, exclude=None):
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as error:
            moved: dict[str, list[ValidationError]] = {}
            for field, errors in error.error_dict.items():
                for e in errors:
                    target = (
                        self.constraint_fields.get(e.code, field) if field == NON_FIELD else field
                    )
                    moved.setdefault(target, []).append(e)
            raise ValidationError(moved) from None
