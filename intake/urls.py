app_name = "intake"

# Routes arrive with the intake issue; the include in telehealth/urls.py is already in place.
urlpatterns: list = []
