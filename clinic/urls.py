from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from scheduling import views as scheduling_views

admin.site.site_header = "Infusion tracker administration"
admin.site.site_title = "Infusion tracker"

urlpatterns = [
    path("", scheduling_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", scheduling_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("reminders/", include("scheduling.reminder_urls")),
]
