from django.urls import path, re_path

from . import views

app_name = "fhir"

TYPE = r"(?P<kind>[A-Z][A-Za-z]+)"
ID = r"(?P<resource_id>[A-Za-z0-9\-.]{1,64})"

urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    re_path(rf"^Patient/{ID}/\$everything$", views.EverythingView.as_view(), name="everything"),
    re_path(rf"^{TYPE}$", views.SearchView.as_view(), name="search"),
    re_path(rf"^{TYPE}/{ID}$", views.ReadView.as_view(), name="read"),
    re_path(r"^(?P<rest>.*)$", views.UnknownView.as_view(), name="unknown"),
]
