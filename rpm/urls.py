app_name = "rpm"

# Routes arrive with the rpm issue; the include in telehealth/urls.py is already in place.
urlpatterns: list = []
