from django.contrib.auth import views as auth_views
from django.urls import path

from telehealth.accounts import views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "accounts/password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "accounts/password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
    path("accounts/mfa/setup/", views.mfa_setup, name="mfa-setup"),
    path("accounts/mfa/verify/", views.mfa_verify, name="mfa-verify"),
    path("accounts/security/", views.security, name="security"),
    path("accounts/session/keepalive/", views.keepalive, name="keepalive"),
    path("patients/", views.patient_list, name="patient-list"),
    path("patients/<int:patient_id>/", views.patient_chart, name="patient-chart"),
    path("patients/<int:patient_id>/emergency-access/", views.break_glass, name="break-glass"),
    path("patients/<int:patient_id>/audit/", views.patient_audit_trail, name="patient-audit"),
    path(
        "patients/<int:patient_id>/account-invitation/",
        views.account_invitation_send,
        name="invitation-send",
    ),
    path("accounts/invitation/<str:token>/", views.invitation, name="invitation"),
    path("practice/emergency-access/", views.break_glass_reviews, name="break-glass-reviews"),
    path(
        "practice/emergency-access/<int:grant_id>/",
        views.break_glass_review,
        name="break-glass-review",
    ),
]
