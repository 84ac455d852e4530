"""The controlled-substance record over the API, scoped to the caller's clinics: nurses
and clinicians draw, waste and count; clinic admins receive, transfer, return and
reconcile; the front desk and patients see none of it. Each action calls one service."""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action

from clinic.api.base import (
    MAX_ID,
    IdField,
    InputSerializer,
    ModelSerializer,
    Role,
    ScopedMixin,
    caller,
    created,
)
from clinic.models import Clinic
from patients.services import record_access_log

from . import selectors as stock_selectors
from . import services as stock_services
from .models import Lot, Product, StockCount, StockCountLine, StockEntry, StockLocation

CARE = (Role.NURSE, Role.CLINICIAN)  # draw, waste, count
ADMIN = (Role.CLINIC_ADMIN,)  # receive, transfer, return, reconcile
READERS = (*CARE, *ADMIN)  # see the record
CORRECTORS = (Role.CLINICIAN, Role.CLINIC_ADMIN)


class ScopedInput(InputSerializer):
    """A request body whose ids of locations, lots, entries and counts are looked up
    among the clinics where the caller may do this action: another clinic's id is
    'does not exist', as an unknown one."""

    def get_fields(self):
        fields = super().get_fields()
        clinics = self.context.get("clinics")
        for field in fields.values():
            if isinstance(field, IdField) and clinics is not None:
                model = field.queryset.model
                if any(f.name == "clinic" for f in model._meta.fields):
                    field.queryset = field.queryset.filter(clinic_id__in=clinics)
        return fields


def _quantity(**kwargs):
    return serializers.DecimalField(max_digits=10, decimal_places=3, **kwargs)


def _witness_fields():
    return (
        serializers.CharField(
            max_length=150, allow_blank=True, required=False, help_text="The witness's username."
        ),
        serializers.CharField(
            max_length=128,
            allow_blank=True,
            required=False,
            style={"input_type": "password"},
            help_text="The witness's own password, given in this request.",
        ),
    )


class ReceiveInput(ScopedInput):
    location = IdField(queryset=StockLocation.objects.select_related("clinic"))
    product = IdField(queryset=Product.objects.all())
    lot_number = serializers.CharField(max_length=40)
    expires_on = serializers.DateField()
    quantity = _quantity(help_text="In the product's unit (mL, devices).")
    supplier = serializers.CharField(max_length=120)
    invoice_number = serializers.CharField(max_length=60)


class TransferInput(ScopedInput):
    lot = IdField(queryset=Lot.objects.select_related("product"))
    from_location = IdField(queryset=StockLocation.objects.select_related("clinic"))
    to_location = IdField(queryset=StockLocation.objects.all())
    quantity = _quantity()
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False)


class MoveInput(ScopedInput):
    lot = IdField(queryset=Lot.objects.select_related("product"))
    location = IdField(queryset=StockLocation.objects.select_related("clinic"))
    quantity = _quantity()


class DrawInput(MoveInput):
    pass


class WasteInput(MoveInput):
    witness, witness_password = _witness_fields()
    reason = serializers.CharField(max_length=2000)


class LossInput(MoveInput):
    witness, witness_password = _witness_fields()
    discovered_on = serializers.DateField(help_text="DEA Form 106: the date discovered.")
    circumstances = serializers.CharField(max_length=4000, help_text="What happened.")


class ReturnInput(MoveInput):
    distributor = serializers.CharField(max_length=120, help_text="The reverse distributor.")


class ReverseInput(InputSerializer):
    reason = serializers.CharField(max_length=2000)


class CountLineInput(InputSerializer):
    lot = serializers.IntegerField(min_value=1)
    counted = _quantity(min_value=0)


class CountInput(ScopedInput):
    location = IdField(queryset=StockLocation.objects.select_related("clinic"))
    lines = CountLineInput(many=True, help_text="Every lot on hand at the location, counted.")
    witness, witness_password = _witness_fields()
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False)


class ReportQuery(serializers.Serializer):  # query strings: text, parsed by the fields
    clinic = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    start = serializers.DateField(help_text="First day, the clinic's local date.")
    end = serializers.DateField(help_text="Last day, included.")

    def validate(self, data):
        if data["end"] < data["start"]:
            raise serializers.ValidationError({"end": "The last day is on or after the first."})
        return data


class ProductSerializer(ModelSerializer):
    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "drug",
            "form",
            "strength",
            "unit",
            "mg_per_unit",
            "units_per_pack",
            "ndc_code",
        ]


class LocationSerializer(ModelSerializer):
    class Meta:
        model = StockLocation
        fields = ["id", "clinic", "name"]


class LotSerializer(ModelSerializer):
    product_name = serializers.CharField(source="product.name", read_only=True)
    on_hand = serializers.SerializerMethodField()

    class Meta:
        model = Lot
        fields = ["id", "clinic", "product", "product_name", "lot_number", "expires_on", "on_hand"]

    def get_on_hand(self, lot) -> list[dict]:
        """Per location: the balance in the product's unit and in mg."""
        return [
            {
                "location": b.location_id,
                "quantity": str(b.balance),
                "mg": str(b.balance * lot.product.mg_per_unit),
            }
            for b in lot.balances.all()
        ]


class EntrySerializer(ModelSerializer):
    lot_number = serializers.CharField(source="lot.lot_number", read_only=True)
    unit = serializers.CharField(source="lot.product.unit", read_only=True)
    quantity_mg = serializers.SerializerMethodField()

    class Meta:
        model = StockEntry
        fields = [
            "id",
            "clinic",
            "location",
            "lot",
            "lot_number",
            "kind",
            "quantity",
            "unit",
            "quantity_mg",
            "balance_after",
            "by",
            "at",
            "reason",
            "supplier",
            "invoice_number",
            "session",
            "dose",
            "reverses",
            "count",
            "witness",
            "witnessed_at",
            "dea_discovered_on",
            "dea_circumstances",
        ]

    def get_quantity_mg(self, entry) -> str:
        return str(entry.quantity * entry.lot.product.mg_per_unit)


class CountLineSerializer(ModelSerializer):
    class Meta:
        model = StockCountLine
        fields = ["lot", "expected", "counted"]


class CountSerializer(ModelSerializer):
    lines = CountLineSerializer(many=True, read_only=True)

    class Meta:
        model = StockCount
        fields = [
            "id",
            "clinic",
            "location",
            "counted_by",
            "counted_at",
            "witness",
            "reason",
            "has_discrepancy",
            "lines",
        ]


class StockScopedMixin(ScopedMixin):
    def get_serializer_context(self):
        context = super().get_serializer_context()
        c = caller(self.request)
        if not c.is_superuser and not getattr(self, "swagger_fake_view", False):
            context["clinics"] = c.clinic_ids(self.roles.get(self.action or "", ()))
        return context

    def _body(self):
        data = self.get_serializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data


class ProductViewSet(ScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The controlled-substance products a clinic may stock."""

    serializer_class = ProductSerializer
    roles = {"list": READERS}
    queryset = Product.objects.order_by("name")


class LocationViewSet(ScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The clinic's storage locations (safes)."""

    serializer_class = LocationSerializer
    roles = {"list": READERS}

    def get_queryset(self):
        return self.scope(StockLocation.objects.order_by("name", "id"))


class LotViewSet(
    ScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Lots received, with what each location holds, in the product's unit and in mg."""

    serializer_class = LotSerializer
    filterset_fields = ["product"]
    roles = {"list": READERS, "retrieve": READERS}

    def get_queryset(self):
        return self.scope(
            Lot.objects.select_related("product")
            .prefetch_related("balances")
            .order_by("expires_on", "id")
        )


class EntryViewSet(
    StockScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The ledger: every movement, append-only, with its running balance. A wrong entry is
    reversed, never edited."""

    serializer_class = EntrySerializer
    filterset_fields = ["lot", "location", "kind", "session"]
    roles = {
        "list": READERS,
        "retrieve": READERS,
        "receive": ADMIN,
        "transfer": ADMIN,
        "return_stock": ADMIN,
        "draw": CARE,
        "waste": CARE,
        "loss": READERS,
        "reverse": CORRECTORS,
        "dispensing_log": READERS,
    }
    inputs = {
        "receive": ReceiveInput,
        "transfer": TransferInput,
        "return_stock": ReturnInput,
        "draw": DrawInput,
        "waste": WasteInput,
        "loss": LossInput,
        "reverse": ReverseInput,
        "dispensing_log": ReportQuery,
    }

    def get_queryset(self):
        return self.scope(StockEntry.objects.select_related("lot__product").order_by("at", "pk"))

    def get_serializer_class(self):
        return self.inputs.get(self.action, EntrySerializer)

    def _post(self, service):
        entry = service(by=self.request.user, **self._body())
        return created(EntrySerializer(entry).data)

    @extend_schema(responses={201: EntrySerializer})
    @action(detail=False, methods=["post"])
    def receive(self, request, **kwargs):
        """A delivery into a location: supplier, invoice or order number, lot, expiry."""
        return self._post(stock_services.stock_receive)

    @extend_schema(responses={201: EntrySerializer(many=True)})
    @action(detail=False, methods=["post"])
    def transfer(self, request, **kwargs):
        """Move stock of a lot to another of the clinic's locations: two entries."""
        out, into = stock_services.stock_transfer(by=request.user, **self._body())
        return created(EntrySerializer([out, into], many=True).data)

    @extend_schema(responses={201: EntrySerializer})
    @action(detail=False, methods=["post"])
    def draw(self, request, **kwargs):
        """Take stock out (a dose's draw goes through the session's dose): refused below
        zero, from an expired lot or another clinic's."""
        return self._post(stock_services.stock_draw)

    @extend_schema(responses={201: EntrySerializer})
    @action(detail=False, methods=["post"])
    def waste(self, request, **kwargs):
        """Destroy stock before a witness who gives their own password."""
        return self._post(stock_services.stock_waste)

    @extend_schema(responses={201: EntrySerializer})
    @action(detail=False, methods=["post"])
    def loss(self, request, **kwargs):
        """Loss or theft, with the DEA Form 106 fields, witnessed."""
        return self._post(stock_services.stock_loss)

    @extend_schema(responses={201: EntrySerializer})
    @action(detail=False, methods=["post"], url_path="return")
    def return_stock(self, request, **kwargs):
        """Stock that leaves through a reverse distributor."""
        return self._post(stock_services.stock_return)

    @extend_schema(responses={201: EntrySerializer})
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None, **kwargs):
        """Correct a wrong entry by its opposite, with a reason."""
        entry = self.scope(StockEntry.objects.select_related("clinic", "lot", "location"))
        entry = entry.filter(pk=self.get_object().pk).get()
        return self._post(lambda **kw: stock_services.stock_entry_reverse(entry=entry, **kw))

    @extend_schema(
        parameters=[ReportQuery],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    @action(detail=False, methods=["get"], url_path="dispensing-log", pagination_class=None)
    def dispensing_log(self, request, **kwargs):
        """The dispensing log for an inspector, as CSV: per administration the date,
        patient, product, lot, quantity given and wasted, by whom, witness."""
        query = ReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        clinic = Clinic.objects.filter(pk=q["clinic"], pk__in=self._clinics()).first()
        if clinic is None:
            raise serializers.ValidationError({"clinic": "No such clinic among yours."})
        start, _ = clinic.day_bounds(q["start"])
        _, end = clinic.day_bounds(q["end"])
        rows = stock_selectors.dispensing_log(clinic=clinic, start=start, end=end)
        record_access_log(
            user=request.user,
            patient_ids=[r.patient_id for r in rows],
            action="api:stock:dispensing-log",
        )
        response = HttpResponse(dispensing_log_csv(rows, clinic), content_type="text/csv")
        name = f"dispensing-log-{clinic.slug}-{q['start']}-{q['end']}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def _clinics(self):
        c = caller(self.request)
        if c.is_superuser:
            return Clinic.objects.values("pk")
        return c.clinic_ids(self.roles["dispensing_log"])


DISPENSING_COLUMNS = [
    "date",
    "time",
    "patient",
    "mrn",
    "product",
    "lot",
    "unit",
    "quantity_given",
    "quantity_wasted",
    "mg_given",
    "given_by",
    "witness",
]


def dispensing_log_csv(rows, clinic: Clinic) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(DISPENSING_COLUMNS)
    for r in rows:
        local = r.given_at.astimezone(clinic.tz)
        writer.writerow(
            [
                f"{local:%Y-%m-%d}",
                f"{local:%H:%M}",
                r.patient,
                r.mrn,
                r.product,
                r.lot,
                r.unit,
                r.given,
                r.wasted,
                r.mg_given,
                r.given_by,
                r.witness,
            ]
        )
    return out.getvalue()


class CountViewSet(
    StockScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Counts of a location, expected against counted per lot; one that differs carries a
    reason and a witness, tells the clinic admin, who reconciles it."""

    serializer_class = CountSerializer
    filterset_fields = ["location", "has_discrepancy"]
    roles = {"list": READERS, "retrieve": READERS, "create": READERS, "reconcile": ADMIN}

    def get_queryset(self):
        return self.scope(StockCount.objects.prefetch_related("lines").order_by("-counted_at"))

    def get_serializer_class(self):
        return CountInput if self.action == "create" else CountSerializer

    @extend_schema(request=CountInput, responses={201: CountSerializer})
    def create(self, request, *args, **kwargs):
        """Count every lot on hand at a location."""
        data = self._body()
        count = stock_services.stock_count(
            location=data["location"],
            counted={line["lot"]: line["counted"] for line in data["lines"]},
            by=request.user,
            witness=data.get("witness", ""),
            witness_password=data.get("witness_password", ""),
            reason=data.get("reason", ""),
        )
        return created(CountSerializer(count).data)

    @extend_schema(request=None, responses={201: EntrySerializer(many=True)})
    @action(detail=True, methods=["post"])
    def reconcile(self, request, pk=None, **kwargs):
        """Bring the record to a count that differed: an adjustment per lot."""
        count = self.get_object()
        entries = stock_services.stock_reconcile(count=count, by=request.user)
        return created(EntrySerializer(entries, many=True).data)
