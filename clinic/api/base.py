"""What every endpoint shares: one error shape, pagination, role checks, scoping.

Roles come from StaffMembership (per clinic) and Patient.user (a patient's own login).
Every queryset is narrowed to what the caller may see before an id is looked up, so an
object of another clinic or another patient is a 404, never a 403 that confirms it
exists, and never appears in a list.
"""

import copy
import datetime as dt
from collections.abc import Iterable

from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404, JsonResponse
from django.utils.functional import cached_property
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, permissions, serializers, status, throttling
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.models import StaffMembership
from clinic.selectors import roles_by_clinic

Role = StaffMembership.Role
PATIENT = "patient"
# Who does what: one table for the API and the pages.
STAFF = (Role.FRONT_DESK, Role.NURSE, Role.CLINICIAN, Role.CLINIC_ADMIN)
CLINICAL = (Role.NURSE, Role.CLINICIAN)  # charts sessions, reads the chart
BOOKERS = (Role.FRONT_DESK, Role.NURSE, Role.CLINICIAN)  # books and moves sessions
COURSE_STARTERS = (Role.FRONT_DESK, Role.CLINICIAN)
REGISTRARS = (Role.FRONT_DESK, Role.CLINICIAN, Role.CLINIC_ADMIN)  # registers patients


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # DRF silently ignores a malformed page_size; we say so instead.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if raw == "last":
            return raw
        if not raw.isdigit() or int(raw) < 1:
            raise exceptions.ValidationError({"page": ["A whole number from 1."]})
        return raw

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"].update(minimum=1, maximum=self.max_page_size)
            if param["name"] == self.page_query_param:
                param["schema"]["minimum"] = 1
        return params


class StrictBooleanField(forms.TypedChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs["coerce"] = lambda value: value == "true"
        kwargs["empty_value"] = None
        super().__init__(*args, **kwargs)


MAX_ID = 2**63 - 1  # the largest id a 64-bit primary key holds


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(filters.Filter):
    """`true` or `false`; anything else is a 400 rather than silently no filter."""

    field_class = StrictBooleanField


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.Filter):
    """A related object's id: a whole number in a primary key's range (and the schema
    says so)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class IdField(serializers.PrimaryKeyRelatedField):
    """A related object by id; an id outside a primary key's range is 'does not exist',
    not a database overflow."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            value = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= value <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(value)


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time, asked of the database in UTC: ISO allows offsets (-20:06) that
    PostgreSQL refuses (a 500 Schemathesis found)."""

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(dt.UTC) if value is not None else value)


class StrictFilterSet(filters.FilterSet):
    """Filters that refuse malformed values, and match related objects by plain id.

    By id, not by "a valid choice": an unknown id and another clinic's id both give an
    empty list, so a filter never tells anyone which ids exist elsewhere.
    """

    FILTER_DEFAULTS = {
        **filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
    }

    def is_valid(self):
        valid = super().is_valid()
        # An empty value for a typed filter is malformed, not "no filter".
        for name, f in self.filters.items():
            if (
                name in self.data
                and self.data.get(name) == ""
                and not isinstance(f, filters.CharFilter | filters.OrderingFilter)
            ):
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid


class FilterBackend(filters.DjangoFilterBackend):
    filterset_base = StrictFilterSet


# JSON types each kind of field takes, as the schema documents them. DRF would coerce
# 12 to "12" or "true" to True; a client sending the wrong type has a bug worth hearing of.
_JSON_TYPES = [
    (serializers.BooleanField, (bool,)),
    (serializers.IntegerField, (int,)),
    (serializers.FloatField, (int, float)),
    (serializers.DecimalField, (str,)),
    (serializers.DateTimeField, (str,)),
    (serializers.DateField, (str,)),
    (serializers.TimeField, (str,)),
    (serializers.CharField, (str,)),
    (serializers.ListField, (list,)),
]


class StrictTypesMixin:
    """Refuse a value of the wrong JSON type, naming the field, before DRF coerces it."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                value = data.get(field.source if field.source != "*" else name, None)
                value = data.get(name, value)
                if field.read_only or value is None or name not in data:
                    continue
                for kind, types in _JSON_TYPES:
                    if isinstance(field, kind):
                        wrong = not isinstance(value, types) or (
                            bool not in types and isinstance(value, bool)
                        )
                        if wrong:
                            errors[name] = [f"Expected a {_type_name(types)}."]
                        break
            if errors:
                raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)


def _type_name(types) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "list"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


class InputSerializer(StrictTypesMixin, serializers.Serializer):
    """Base for request bodies."""

    def get_fields(self):
        # DRF deep-copies every declared field for each serializer instance, and a
        # field's deep copy runs its __init__ again: on the API's busiest writes that cost
        # more than validating. A plain field is only bound to its serializer (bind sets
        # attributes of its own) and validation changes nothing in it, so a shallow copy
        # is enough; a field holding a child, a nested serializer or a mutable default
        # is deep-copied.
        return {
            name: copy.copy(field) if _plain(field) else copy.deepcopy(field)
            for name, field in self._declared_fields.items()
        }


def _plain(field) -> bool:
    composite = (
        serializers.BaseSerializer,
        serializers.ListField,
        serializers.DictField,
        serializers.ManyRelatedField,
    )
    mutable = (list, dict, set)  # a default or initial value each copy must own
    return (
        not isinstance(field, composite)
        and not hasattr(field, "child")
        and not isinstance(getattr(field, "default", None), mutable)
        and not isinstance(getattr(field, "initial", None), mutable)
    )


class ModelSerializer(StrictTypesMixin, serializers.ModelSerializer):
    """Base for model serializers that also take input."""


def not_found(request, exception=None):
    """A 404 for a URL no route matches: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = {"status": 404, "code": "not_found", "detail": "Not found.", "errors": {}}
        return JsonResponse(body, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def _flatten(detail, prefix=""):
    """DRF's nested error detail -> {"field" or "field.sub" or "items[2]": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if not prefix else f"{prefix}.{key}"
            out.update(_flatten(value, name))
    elif isinstance(detail, list) and detail and not all(isinstance(d, str) for d in detail):
        for i, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        items = detail if isinstance(detail, list) else [detail]
        out[prefix or "non_field_errors"] = [str(d) for d in items]
    return out


def exception_handler(exc, context):
    """One error shape for every endpoint:

    {"status": 400, "code": "invalid", "detail": "...", "errors": {"field": ["message"]}}

    Business rules raise Django's ValidationError in the services; they become 400s
    naming the field, exactly as DRF's own validation does. A body that is not JSON at
    all is a 400 under "body".
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, exceptions.ParseError):
        # A body that is not JSON: the body is the field at fault.
        exc = exceptions.ValidationError({"body": [str(exc.detail)]})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(response.data)
        first = next(iter(errors.items()))
        body = {
            "status": response.status_code,
            "code": "invalid",
            "detail": f"{first[0]}: {first[1][0]}",
            "errors": errors,
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        body = {
            "status": response.status_code,
            "code": getattr(detail, "code", None) or getattr(exc, "default_code", "error"),
            "detail": str(detail),
            "errors": {},
        }
    response.data = body
    return response


class Caller:
    """The signed-in user's roles, computed once per request (one query); one more only
    when a patient's own login could matter."""

    def __init__(self, user):
        self.user = user
        self.is_superuser = bool(getattr(user, "is_superuser", False))
        self.roles: dict[int, set[str]] = {}
        if not user.is_authenticated:
            self._patient = None
            return
        self.roles = roles_by_clinic(
            StaffMembership.objects.filter(user=user).values_list("clinic_id", "role")
        )

    @cached_property
    def _patient(self):
        return getattr(self.user, "patient", None)

    @property
    def patient_id(self) -> int | None:
        return self._patient.id if self._patient is not None else None

    @property
    def patient_clinic_id(self) -> int | None:
        return self._patient.clinic_id if self._patient is not None else None

    def clinic_ids(self, roles: Iterable[str] = STAFF) -> list[int]:
        wanted = set(roles)
        return [c for c, have in self.roles.items() if have & wanted]

    def has(self, clinic_id: int, roles: Iterable[str]) -> bool:
        return self.is_superuser or bool(self.roles.get(clinic_id, set()) & set(roles))

    @property
    def is_staff_anywhere(self) -> bool:
        return self.is_superuser or bool(self.roles)


def caller(request) -> Caller:
    if not hasattr(request, "_caller"):
        request._caller = Caller(request.user)
    return request._caller


def may(caller: Caller, roles) -> bool:
    """Whether `caller` holds one of `roles` anywhere ("patient": has a patient's login)."""
    if caller.is_superuser or caller.clinic_ids(set(roles) - {PATIENT}):
        return True
    return PATIENT in roles and caller.patient_id is not None


class RolePermission(permissions.BasePermission):
    """Views declare `roles = {action: (role, ...)}`; "patient" means a patient's own login.

    An action not in the table is refused (403). Object level: `ScopedMixin.scope` narrows
    the queryset to the clinics where the caller holds a role listed for this action (or
    to the patient's own records), so another clinic's or patient's object is a 404.
    """

    def has_permission(self, request, view):
        if getattr(view, "action", None) is None:
            return True  # a method this endpoint does not have: let it answer 405
        return may(caller(request), view.roles.get(view.action or "", ()))

    def has_object_permission(self, request, view, obj):
        # The object was found in `view.scope(...)`, which is narrowed by the same table
        # for this very action: finding it is the object-level check.
        return True


class IdLookupMixin:
    """Objects looked up by id: an id no primary key can hold is a 404, not an overflow."""

    lookup_value_regex = "[0-9]+"

    def get_object(self):
        raw = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        if not str(raw).isdigit() or not 1 <= int(raw) <= MAX_ID:
            raise Http404
        return super().get_object()


class ScopedMixin(IdLookupMixin):
    """Querysets narrowed to the caller's clinics (staff) or own records (patient).

    Subclasses set `clinic_field` (path to the clinic id) and `patient_field` (path to
    the patient id, or None when patients may not see the resource at all).
    """

    permission_classes = [permissions.IsAuthenticated, RolePermission]
    roles: dict[str, tuple[str, ...]] = {}
    clinic_field = "clinic_id"
    patient_field: str | None = None

    def scope(self, queryset):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return queryset.none()
        return scoped(
            queryset,
            caller=caller(self.request),
            roles=self.roles.get(self.action or "", STAFF),
            clinic_field=self.clinic_field,
            patient_field=self.patient_field,
        )


def scoped(queryset, *, caller: Caller, roles, clinic_field: str, patient_field: str | None):
    """`queryset` narrowed to what `caller` may see with `roles`: a patient listed in the
    roles sees their own rows (through `patient_field`), staff their clinics' rows where
    they hold one of the roles (through `clinic_field`), a superuser everything."""
    if caller.is_superuser:
        return queryset
    if PATIENT in roles and patient_field and caller.patient_id is not None:
        return queryset.filter(**{patient_field: caller.patient_id})
    return queryset.filter(**{f"{clinic_field}__in": caller.clinic_ids(set(roles) - {PATIENT})})


class TokenCreationThrottle(throttling.SimpleRateThrottle):
    """Token creation, per user (or address when not signed in), at RATELIMIT_TOKEN. Over
    the limit: a 429 in the error shape above (code "throttled")."""

    scope = "token"

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def created(data) -> Response:
    return Response(data, status=status.HTTP_201_CREATED)
