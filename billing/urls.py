from django.urls import path

from billing.views import claims, encounters, remittances, superbills, worklists

app_name = "billing"

urlpatterns: list = [
    # Encounters: the worklist by status, review, diagnoses, lines and signing.
    path("encounters/", encounters.worklist, name="worklist"),
    path("encounters/<int:encounter_id>/", encounters.encounter, name="encounter"),
    path(
        "encounters/<int:encounter_id>/diagnoses/",
        encounters.diagnoses_save,
        name="encounter-diagnoses",
    ),
    path("encounters/<int:encounter_id>/lines/", encounters.lines_save, name="encounter-lines"),
    path("encounters/<int:encounter_id>/basis/", encounters.basis_save, name="encounter-basis"),
    path("encounters/<int:encounter_id>/sign/", encounters.sign, name="encounter-sign"),
    path("diagnoses/search/", encounters.diagnosis_search, name="diagnosis-search"),
    #
    # Worklists: totals per provider and month, CSV, monitoring close to a threshold.
    path("totals/", worklists.totals, name="totals"),
    path("encounters.csv", worklists.encounters_csv, name="encounters-csv"),
    path("monitoring/due/", worklists.monitoring_due, name="monitoring-due"),
    #
    # Claims: 837P batches.
    path("claims/", claims.claims, name="claims"),
    path("claims/export/", claims.export, name="claims-export"),
    path("claims/<int:batch_id>/download/", claims.download, name="claims-download"),
    #
    # Remittances: 835 import, matching and denials.
    path("remittances/", remittances.remittance_list, name="remittances"),
    path("remittances/import/", remittances.remittance_import_view, name="remittance-import"),
    path("remittances/<int:remittance_id>/", remittances.remittance_detail, name="remittance"),
    path("denials/", remittances.denials, name="denials"),
    #
    # Superbills.
    path("superbills/", superbills.my_superbills, name="my-superbills"),
    path("encounters/<int:encounter_id>/superbill.pdf", superbills.superbill, name="superbill"),
    #
]
