from django.contrib import admin
from django.urls import include, path

from telehealth.accounts import views as account_views
from telehealth.api import api
from telehealth.health import healthz

admin.site.site_header = "Telehealth administration"
admin.site.site_title = "Telehealth administration"

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("telehealth.smart.urls")),  # before fhir/R4/: its .well-known
    path("fhir/R4/", include("telehealth.fhir.urls")),
    path("ehr/", include("telehealth.ehr.urls")),
    path("practice/fhir-notifications/", include("telehealth.fhir_subscriptions.urls")),
    path("practice/fhir-import/", include("telehealth.fhir_import.urls")),
    path("", include("telehealth.accounts.urls")),
    path("", include("telehealth.notify.urls")),
    path("", include("scheduling.urls")),
    path("", include("visits.urls")),
    path("messaging/", include("messaging.urls")),
    path("intake/", include("intake.urls")),
    path("rpm/", include("rpm.urls")),
    path("documents/", include("documents.urls")),
    path("billing/", include("billing.urls")),
    path("practice/analytics/", include("analytics.urls")),
    path("feedback/", include("feedback.urls")),
]

handler400 = "telehealth.errors.bad_request"
handler403 = "telehealth.errors.permission_denied"
handler404 = "telehealth.errors.page_not_found"
handler500 = "telehealth.errors.server_error"
