app_name = "visits"

# Routes arrive with the visits issue; the include in telehealth/urls.py is already in place.
urlpatterns: list = []
