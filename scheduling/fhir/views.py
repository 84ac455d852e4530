"""The FHIR endpoints: read, search, Patient/$everything, metadata (docs/fhir.md).

Authentication, roles and scoping are the API's (clinic.api.base): a record of another
clinic or another patient is a 404 exactly like a missing one, a resource type the
caller's roles do not read is a 403, and every read of patient data is logged.
"""

import datetime as dt
import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from clinic.api.base import MAX_ID, caller, may, scoped
from patients.services import record_access_log

from . import mappers
from .sources import BY_TYPE, DATE_PARAM, Source

CONTENT_TYPE = "application/fhir+json"
FORMATS = {"json", "application/json", CONTENT_TYPE}
PATIENT_PAGE = 50  # patients per page of a Patient search, `_count` up to 200
PATIENT_PAGE_MAX = 200


class FhirJSONRenderer(JSONRenderer):
    media_type = CONTENT_TYPE
    format = "fhir"


class BadParameter(exceptions.APIException):
    """A search parameter we do not support, or a value we cannot read: a 400 naming it."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.parameter = name


ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found"}


def exception_handler(exc, context):
    """Every error as an OperationOutcome, with its status (and WWW-Authenticate on a
    401)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    outcome = mappers.operation_outcome(
        code=ISSUE_CODES.get(exc.status_code, "not-supported"),
        diagnostics=str(exc.detail),
        expression=getattr(exc, "parameter", None),
    )
    response = fhir_response(outcome, status=exc.status_code)
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    return response


def fhir_response(model, status: int = 200) -> HttpResponse:
    return HttpResponse(model.model_dump_json(), content_type=CONTENT_TYPE, status=status)


@extend_schema(exclude=True)  # FHIR is described by /fhir/metadata, not the API's schema
class FhirView(APIView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]  # Accept: either; we send FHIR JSON
    permission_classes = [permissions.IsAuthenticated]
    versioning_class = None  # not under /api/v1/

    def get_exception_handler(self):
        return exception_handler

    def base(self) -> str:
        return self.request.build_absolute_uri("/fhir/")

    def readable(self, kind: str) -> list[Source]:
        """The sources of `kind` the caller's roles read: unknown type 404, none 403."""
        if kind not in BY_TYPE:
            raise exceptions.NotFound(f"This server does not serve {kind} resources.")
        found = [s for s in BY_TYPE[kind] if may(caller(self.request), s.roles)]
        if not found:
            raise exceptions.PermissionDenied(f"Your roles do not read {kind} resources.")
        return found

    def records(self, source: Source):
        """`source`'s records narrowed to what the caller may see."""
        return scoped(
            source.queryset(),
            caller=caller(self.request),
            roles=source.roles,
            clinic_field=source.clinic_field,
            patient_field=source.patient_field,
        )

    def params(self, allowed: set[str]) -> dict[str, list[str]]:
        """The query parameters, every one supported (or a 400 naming the first that is
        not); `_format` must be JSON."""
        query = self.request.query_params
        for name in query:
            if name not in allowed | {"_format"}:
                raise BadParameter(
                    name, f"not a search parameter here ({', '.join(sorted(allowed)) or 'none'})."
                )
        for value in query.getlist("_format"):
            if value not in FORMATS:
                raise BadParameter("_format", "this server answers in JSON only.")
        return {name: query.getlist(name) for name in query if name != "_format"}


def _pk(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_ID else None


def _source_and_pk(sources: list[Source], resource_id: str) -> tuple[Source, int] | None:
    """Which of `sources` holds `resource_id`, and its record's primary key."""
    for source in sources:
        if not source.prefix:
            pk = _pk(resource_id)
        else:
            match = re.fullmatch(rf"{source.prefix}-(\d+)(-[a-z0-9-]+)?", resource_id)
            pk = _pk(match.group(1)) if match else None
        if pk is not None:
            return source, pk
    return None


class ReadView(FhirView):
    """GET /fhir/<type>/<id>."""

    def get(self, request, kind: str, resource_id: str):
        self.params(set())
        found = _source_and_pk(self.readable(kind), resource_id)
        if found is None:
            raise exceptions.NotFound(f"{kind}/{resource_id} is not known.")
        source, pk = found
        record = self.records(source).filter(pk=pk).first()
        match = [r for r in source.to_fhir(record) if r.id == resource_id] if record else []
        if not match:
            raise exceptions.NotFound(f"{kind}/{resource_id} is not known.")
        record_access_log(
            user=request.user, patient_ids=[source.patient_id(record)], action=f"fhir:{kind}:read"
        )
        return fhir_response(match[0])


# --- search ----------------------------------------------------------------------------

DATE_FORMATS = {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}
COMPARATORS = ("eq", "ne", "gt", "lt", "ge", "le")


def _bounds(name: str, value: str) -> tuple[dt.datetime, dt.datetime]:
    """The instants a date or date-time covers, [start, end): a date is a whole UTC day
    (month, year); a date-time, with its offset, that second."""
    value = value.replace(" ", "+")  # an unencoded "+" of an offset arrives as a space
    try:
        if len(value) in DATE_FORMATS:
            start = dt.datetime.strptime(value, DATE_FORMATS[len(value)]).replace(tzinfo=dt.UTC)
            if len(value) == 4:
                return start, start.replace(year=start.year + 1)
            if len(value) == 7:
                return start, (start + dt.timedelta(days=32)).replace(day=1)
            return start, start + dt.timedelta(days=1)
        start = dt.datetime.fromisoformat(value)
    except ValueError:
        start = None
    if start is None or start.tzinfo is None or "T" not in value:
        raise BadParameter(
            name, f"{value!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD) or a date-time with offset."
        )
    start = start.replace(microsecond=0)
    return start, start + dt.timedelta(seconds=1)


def date_condition(name: str, raw: str, field: str, whole_days: bool) -> Q:
    """One value of a date parameter (`ge2026-01-01`) as a condition on `field`."""
    comparator, value = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
    if comparator not in COMPARATORS:
        raise BadParameter(name, f"{comparator!r} is not one of {', '.join(COMPARATORS)}.")
    start, end = _bounds(name, value)
    if whole_days:  # a DateField: the days the instants touch
        start, end = start.date(), (end - dt.timedelta(microseconds=1)).date() + dt.timedelta(1)
    within = Q(**{f"{field}__gte": start, f"{field}__lt": end})
    return {
        "eq": within,
        "ne": ~within,
        "gt": Q(**{f"{field}__gte": end}),
        "lt": Q(**{f"{field}__lt": start}),
        "ge": Q(**{f"{field}__gte": start}),
        "le": Q(**{f"{field}__lt": end}),
    }[comparator]


def _patient_param(values: list[str]) -> int | None:
    if len(values) != 1:
        raise BadParameter("patient", "give one patient (an id, or Patient/<id>).")
    pk = _pk(values[0].removeprefix("Patient/"))
    if pk is None:
        raise BadParameter("patient", f"{values[0]!r} is not a patient id.")
    return pk


def _token_values(name: str, values: list[str], system: str) -> set[str]:
    """A token parameter's codes (`code`, or `system|code`; commas for either)."""
    codes = set()
    for value in values:
        for token in value.split(","):
            token_system, _, code = token.rpartition("|")
            if token_system and token_system != system:
                raise BadParameter(name, f"codes of {system} only.")
            codes.add(code)
    return codes


def _codes(r) -> set[str]:
    return {c.code for c in r.code.coding or []}


def _categories(r) -> set[str]:
    return {c.code for cat in r.category or [] for c in cat.coding or []}


class SearchView(FhirView):
    """GET /fhir/<type>?patient=<id>&<date parameter>=ge2026-01-01 (a Patient search
    by `_id` or `identifier`, `_count` and `_offset`)."""

    def get(self, request, kind: str):
        sources = self.readable(kind)
        if kind == "Patient":
            return self.patients(sources[0])
        date_param = DATE_PARAM[kind]
        allowed = {"patient", date_param} | (
            {"code", "category"} if kind == "Observation" else set()
        )
        params = self.params(allowed)
        if "patient" not in params:
            raise BadParameter("patient", "required: a search is of one patient's record.")
        patient_id = _patient_param(params["patient"])
        found = []
        for source in sources:
            condition = Q(**{source.patient_field: patient_id})
            for raw in params.get(date_param, []):
                whole_days = source.date_field == "start_date"
                condition &= date_condition(date_param, raw, source.date_field, whole_days)
            for record in self.records(source).filter(condition).order_by(source.date_field, "pk"):
                found.extend(source.to_fhir(record))
        if "code" in params:
            codes = _token_values("code", params["code"], mappers.LOINC)
            found = [r for r in found if _codes(r) & codes]
        if "category" in params:
            categories = _token_values("category", params["category"], mappers.CATEGORY)
            found = [r for r in found if _categories(r) & categories]
        if found:
            record_access_log(
                user=request.user, patient_ids=[patient_id], action=f"fhir:{kind}:search"
            )
        return fhir_response(mappers.bundle(base=self.base(), resources=found))

    def patients(self, source: Source):
        params = self.params({"_id", "identifier", "_count", "_offset"})
        records = self.records(source)
        for value in params.get("_id", []):
            records = records.filter(pk=_pk(value) or 0)
        for value in params.get("identifier", []):
            records = records.filter(
                Q(mrn=value.rpartition("|")[2]) | Q(rems_patient_id=value.rpartition("|")[2])
            )
        count = self._number(params, "_count", PATIENT_PAGE, 1, PATIENT_PAGE_MAX)
        offset = self._number(params, "_offset", 0, 0, MAX_ID)
        total = records.count()
        page = list(records.order_by("last_name", "first_name", "pk")[offset : offset + count])
        if page:
            record_access_log(
                user=self.request.user,
                patient_ids=[p.pk for p in page],
                action="fhir:Patient:search",
            )
        links = [("self", self.request.build_absolute_uri())]
        if offset + count < total:
            query = self.request.query_params.copy()
            query["_offset"] = str(offset + count)
            links.append(("next", f"{self.base()}Patient?{query.urlencode()}"))
        resources = [r for p in page for r in source.to_fhir(p)]
        return fhir_response(
            mappers.bundle(base=self.base(), resources=resources, total=total, links=links)
        )

    @staticmethod
    def _number(params, name, default, low, high) -> int:
        values = params.get(name)
        if not values:
            return default
        if len(values) > 1 or not values[0].isdigit() or not low <= int(values[0]) <= high:
            raise BadParameter(name, f"a whole number from {low} to {high}.")
        return int(values[0])


class EverythingView(FhirView):
    """GET /fhir/Patient/<id>/$everything: the patient and every resource of theirs the
    caller's roles read, as one searchset Bundle (the Patient first)."""

    def get(self, request, resource_id: str):
        self.params(set())
        patient_source, *_ = self.readable("Patient")
        pk = _pk(resource_id)
        patient = self.records(patient_source).filter(pk=pk).first() if pk else None
        if patient is None:
            raise exceptions.NotFound(f"Patient/{resource_id} is not known.")
        found = patient_source.to_fhir(patient)
        c = caller(request)
        for kind, sources in BY_TYPE.items():
            if kind == "Patient":
                continue
            for source in sources:
                if not may(c, source.roles):
                    continue
                records = self.records(source).filter(**{source.patient_field: patient.pk})
                for record in records.order_by(source.date_field, "pk"):
                    found.extend(source.to_fhir(record))
        record_access_log(
            user=request.user, patient_ids=[patient.pk], action="fhir:Patient:everything"
        )
        return fhir_response(mappers.bundle(base=self.base(), resources=found))


class MetadataView(FhirView):
    """GET /fhir/metadata: the CapabilityStatement (public: it holds no patient data)."""

    permission_classes = [permissions.AllowAny]
    DATE = "2026-12-06"  # when this statement last changed

    def get(self, request):
        self.params(set())
        types = {"Patient": [("_id", "token"), ("identifier", "token")]}
        for kind in BY_TYPE:
            if kind != "Patient":
                types[kind] = [("patient", "reference"), (DATE_PARAM[kind], "date")]
        types["Observation"] += [("code", "token"), ("category", "token")]
        return fhir_response(
            mappers.capability_statement(base=self.base(), types=types, date=self.DATE)
        )


class UnknownView(FhirView):
    """Any other path under /fhir/: a 404 OperationOutcome."""

    permission_classes = [permissions.AllowAny]

    def get(self, request, rest: str = ""):
        raise exceptions.NotFound(f"No FHIR endpoint at /fhir/{rest}.")
