app_name = "messaging"

# Routes arrive with the messaging issue; the include in telehealth/urls.py is already in place.
urlpatterns: list = []
