app_name = "billing"

# Routes arrive with the billing issue; the include in telehealth/urls.py is already in place.
urlpatterns: list = []
