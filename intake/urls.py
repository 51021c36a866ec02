from django.urls import path

from intake import views

app_name = "intake"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("start/<str:token>/", views.link, name="link"),
    path("forms/<int:form_id>/", views.fill, name="fill"),
    path("insurance/", views.insurance, name="insurance"),
    path("consents/<int:document_id>/", views.consent, name="consent"),
    path("signatures/<int:signature_id>/pdf/", views.signature_pdf, name="signature-pdf"),
    path("cards/<int:card_id>/<str:side>/", views.card_image, name="card-image"),
    path("files/<int:file_id>/", views.response_file, name="file"),
    path("patients/<int:patient_id>/", views.patient_summary, name="summary"),
    path("manage/", views.manage, name="manage"),
    path("manage/new/", views.create_form, name="create-form"),
    path("manage/<int:form_id>/", views.edit, name="edit"),
    path("manage/<int:form_id>/preview/", views.preview, name="preview"),
]
