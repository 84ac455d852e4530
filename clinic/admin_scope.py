"""The admin, scoped like the API: every row belongs to a clinic, and what a user may do
with it is what their roles *at that clinic* allow (`clinic.roles.ROLE_PERMISSIONS`).

Django's own permission check is global (a user's groups), so a nurse at one clinic who
is a clinician at another would hold a clinician's rights at both, and nothing would keep
one clinic's front desk out of another clinic's patients. Here every check names the
clinic: querysets, object permissions, the choices of every drop-down and autocomplete,
list filters and the history pages. An object of a clinic the user may not see is a 404,
exactly like a missing one. Superusers see and may do everything, as in the API.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from .models import StaffMembership
from .roles import ROLE_PERMISSIONS
from .selectors import roles_by_clinic

ACTIONS = ("view", "add", "change", "delete")


def _roles(request) -> dict[int, set[str]]:
    """The user's roles by clinic, read once per request."""
    if not hasattr(request, "_clinic_roles"):
        rows = StaffMembership.objects.filter(user=request.user).values_list("clinic_id", "role")
        request._clinic_roles = roles_by_clinic(rows)
    return request._clinic_roles


def clinics_allowing(request, model: type[Model], action: str) -> set[int] | None:
    """The clinics at which the user may `action` rows of `model`; None means every
    clinic (a superuser)."""
    if request.user.is_superuser:
        return None
    label = model._meta.label_lower
    return {
        clinic_id
        for clinic_id, roles in _roles(request).items()
        if any(action in ROLE_PERMISSIONS.get(role, {}).get(label, ()) for role in roles)
    }


def clinic_of(obj: Model, path: str) -> int | None:
    """The id of the clinic `obj` belongs to, following `path` ("clinic",
    "session__clinic", "id" for a clinic itself); None for a shared row."""
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return obj.pk if last in ("id", "pk") else getattr(obj, f"{last}_id")


def in_clinics(path: str, clinic_ids: set[int] | None, *, shared: bool = False) -> Q:
    if clinic_ids is None:
        return Q()
    q = Q(**{f"{path}__in": clinic_ids})
    return q | Q(**{f"{path}__isnull": True}) if shared else q


def choices_within(request, model: type[Model], clinic_ids: set[int] | None) -> QuerySet | None:
    """The rows of `model` a drop-down may offer when the form acts at `clinic_ids`;
    None when `model` is not a clinic's (a global catalogue)."""
    if clinic_ids is None:
        return model._default_manager.all()
    model_admin = admin.site.get_model_admin(model) if admin.site.is_registered(model) else None
    if isinstance(model_admin, ScopedAdmin):
        q = in_clinics(model_admin.clinic_path, clinic_ids, shared=model_admin.shared_rows)
        return model._default_manager.filter(q)
    if model is get_user_model():
        # Staff of those clinics, their patients' logins, and accounts nobody holds yet.
        return model._default_manager.filter(
            Q(memberships__clinic__in=clinic_ids)
            | Q(patient__clinic__in=clinic_ids)
            | Q(memberships__isnull=True, patient__isnull=True, is_superuser=False)
        ).distinct()
    return None


def _narrow(request, field: forms.Field, clinic_ids: set[int] | None) -> None:
    if not isinstance(field, forms.ModelChoiceField) or clinic_ids is None:
        return
    allowed = choices_within(request, field.queryset.model, clinic_ids)
    if allowed is not None:
        field.queryset = field.queryset.filter(pk__in=allowed.values("pk"))


class ScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, permissions and choices are those of the user's roles at
    each row's clinic.

    `clinic_path` leads from a row to its clinic. `shared_rows`: rows without a clinic
    (built-in protocols) are every clinic's to read and a superuser's alone to change.
    """

    clinic_path = "clinic"
    shared_rows = False

    def clinic_ids(self, request, action: str) -> set[int] | None:
        return clinics_allowing(request, self.model, action)

    def scoped(self, request, queryset: QuerySet, action: str = "view") -> QuerySet:
        """`queryset` narrowed to the clinics where the user may `action` its rows."""
        shared = self.shared_rows and action == "view"
        ids = self.clinic_ids(request, action)
        if action == "view" and ids is not None:
            ids |= self.clinic_ids(request, "change")  # change implies view, as in Django
        return queryset.filter(in_clinics(self.clinic_path, ids, shared=shared))

    def get_queryset(self, request):
        return self.scoped(request, super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such record.")  # missing, or another clinic's: the same answer
        return obj

    def may(self, request, action: str, obj=None) -> bool:
        ids = self.clinic_ids(request, action)
        if ids is None:
            return True
        if obj is None:
            return bool(ids)
        clinic_id = clinic_of(obj, self.clinic_path)
        if clinic_id is None:
            return self.shared_rows and action == "view" and bool(_roles(request))
        return clinic_id in ids

    def has_module_permission(self, request):
        return request.user.is_active and any(self.may(request, a) for a in ACTIONS)

    def has_view_permission(self, request, obj=None):
        return self.may(request, "view", obj) or self.may(request, "change", obj)

    def has_add_permission(self, request):
        return self.may(request, "add")

    def has_change_permission(self, request, obj=None):
        return self.may(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self.may(request, "delete", obj)

    def get_list_filter(self, request):
        # A filter by a related object lists only those of the rows the user sees.
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
                entry = (entry, admin.RelatedOnlyFieldListFilter)
            filters.append(entry)
        return filters

    def form_clinic_ids(self, request, obj) -> set[int] | None:
        """The clinics a form may reach: where the user may add (a new row) or change
        (this row) rows of this model."""
        return self.clinic_ids(request, "add" if obj is None else "change")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        clinic_ids = self.form_clinic_ids(request, obj)

        class Scoped(form):
            # Narrowed per instance: a form class's fields are shared between requests.
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                for field in self.fields.values():
                    _narrow(request, field, clinic_ids)

        Scoped.__name__ = form.__name__
        return Scoped


class ScopedHistoryAdmin(ScopedAdmin, SimpleHistoryAdmin):
    """A scoped admin with django-simple-history's pages, which read the history table
    and so need scoping of their own; reverting is refused: a record is corrected
    forward (a new change, kept in the history), never put back over its later edits."""

    def history_view(self, request, object_id, extra_context=None):
        self.get_object(request, unquote(object_id))
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self.get_object(request, unquote(object_id))
        if request.method == "POST":
            raise PermissionDenied("A record is corrected by a new change, not reverted.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None):
        return True


class ScopedInline:
    """An inline whose permissions and choices are those of the user's roles at the
    parent's clinic."""

    def _parent_clinic(self, obj) -> int | None:
        return clinic_of(obj, self.admin_site.get_model_admin(self.parent_model).clinic_path)

    def may(self, request, action: str, obj=None) -> bool:
        ids = clinics_allowing(request, self.model, action)
        if ids is None:
            return True
        return bool(ids) if obj is None else self._parent_clinic(obj) in ids

    def has_view_permission(self, request, obj=None):
        return self.may(request, "view", obj) or self.may(request, "change", obj)

    def has_add_permission(self, request, obj=None):
        return self.may(request, "add", obj)

    def has_change_permission(self, request, obj=None):
        return self.may(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self.may(request, "delete", obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None:
            _narrow(request, field, clinics_allowing(request, self.model, "change"))
        return field
