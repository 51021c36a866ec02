from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("<int:document_id>/file/", views.view_file, name="file"),
    path("<int:document_id>/download/", views.download, name="download"),
    path("<int:document_id>/withdraw/", views.withdraw, name="withdraw"),
    path("patients/<int:patient_id>/share/", views.share, name="share"),
    path("library/", views.library, name="library"),
    path("library/<int:item_id>/file/", views.library_file, name="library-file"),
    path("library/<int:item_id>/share/", views.library_share, name="library-share"),
    path("library/<int:item_id>/retire/", views.library_retire, name="library-retire"),
    path("library/<int:item_id>/restore/", views.library_restore, name="library-restore"),
]
