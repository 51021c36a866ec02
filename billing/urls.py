from django.urls import path  # noqa: F401  (each area adds its routes below)

from billing.views import claims, encounters, remittances, superbills, worklists  # noqa: F401

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
    #
    # Claims: 837P batches.
    #
    # Remittances: 835 import, matching and denials.
    #
    # Superbills.
    #
]
