from django.urls import path

from feedback import views

app_name = "feedback"

urlpatterns = [
    path("s/<str:token>/", views.survey_link, name="survey-link"),
    path("surveys/<int:survey_id>/", views.survey, name="survey"),
    path("responses/", views.responses, name="responses"),
    path(
        "responses/<int:survey_id>/review-request/",
        views.review_request,
        name="review-request",
    ),
    path("settings/", views.settings_page, name="settings"),
]
