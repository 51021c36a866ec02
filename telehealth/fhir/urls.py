from django.urls import path

from telehealth.fhir import bulk_views, views

app_name = "fhir"

urlpatterns = [
    path("", views.transaction, name="transaction"),
    path("metadata", views.metadata, name="metadata"),
    # Bulk Data $export: before the generic patterns, which would take "$export" for a type.
    path("$export", bulk_views.export_system, name="export"),
    path("Patient/$export", bulk_views.export_patients, name="export-patients"),
    path("Patient/<str:resource_id>/$export", bulk_views.export_patient, name="export-patient"),
    path("Group/<str:group_id>/$export", bulk_views.export_group, name="export-group"),
    path("$export-status/<uuid:export_id>", bulk_views.export_status, name="export-status"),
    path("$export-file/<uuid:file_id>", bulk_views.export_file, name="export-file"),
    path("<str:resource_type>", views.search, name="search"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="read"),
    path(
        "<str:resource_type>/<str:resource_id>/_history/<str:version_id>",
        views.vread,
        name="vread",
    ),
]
