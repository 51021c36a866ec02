from django.urls import path

from telehealth.ehr import views

app_name = "ehr"

urlpatterns = [
    path("launch", views.launch, name="launch"),
    path("launch/resume", views.resume, name="resume"),
    path("callback", views.callback, name="callback"),
]
