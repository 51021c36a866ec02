app_name = "scheduling"

# Routes arrive with the scheduling issue; the include in telehealth/urls.py is already in place.
urlpatterns: list = []
