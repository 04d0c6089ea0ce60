from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from council.accounts import throttle


class SignupForm(UserCreationForm):
    pass


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, initial="script")


class ThrottledLogin:
    """Log-in that waits after too many failures for the account or from the address (accounts/throttle.py)."""

    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = throttle.client_address(self.request) if self.request else "unknown"
        self.retry_after = throttle.retry_after(username, address)
        if self.retry_after:
            raise forms.ValidationError(throttle.message(self.retry_after), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            if self.get_user() is None:  # a wrong password, not a right one refused for another reason
                throttle.failed(username, address)
            raise
        throttle.succeeded(username)
        return cleaned


class LoginForm(ThrottledLogin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLogin, AdminAuthenticationForm):
    pass
