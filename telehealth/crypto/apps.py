from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "telehealth.crypto"
    label = "crypto"
    verbose_name = "PHI encryption"
