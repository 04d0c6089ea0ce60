from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "council.accounts"
    label = "accounts"

    def ready(self):
        from django.contrib import admin

        from council.accounts.forms import AdminLoginForm

        admin.site.login_form = AdminLoginForm  # the admin's log-in is throttled like the site's
