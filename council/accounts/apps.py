from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "council.accounts"
    label = "accounts"
