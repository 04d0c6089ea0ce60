"""Log in (throttled), sign up (closable; the first account administers the install), and API tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from council.accounts.forms import LoginForm, SignupForm, TokenForm
from council.accounts.models import ApiToken
from council.comparisons.errors import with_retry_after

# Any fixed number: the Postgres advisory lock every sign-up takes while it decides "first account?".
FIRST_ACCOUNT_LOCK = 0x436F756E63696C  # "Council"


class LoginView(auth_views.LoginView):
    """Django's log-in with the throttled form; a throttled attempt answers 429 with Retry-After."""

    authentication_form = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after:
            response.status_code = 429
        return with_retry_after(response, form)


def _lock_sign_ups() -> None:
    """Serialise sign-ups until this transaction ends, so only one can be the first account.

    SQLite needs nothing: its IMMEDIATE transactions (settings) already write one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FIRST_ACCOUNT_LOCK])


def _no_account_yet() -> bool:
    return not get_user_model().objects.exists()


def create_account(form: SignupForm):
    """The new user, and whether it is the install's first (and so its administrator)."""
    with transaction.atomic():
        _lock_sign_ups()
        first = _no_account_yet()
        user = form.save(commit=False)
        user.is_staff = user.is_superuser = first
        user.save()
    return user, first


def signup(request):
    if not settings.COUNCIL_SIGNUP:
        return render(request, "registration/signup_closed.html", status=403)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, first = create_account(form)
        login(request, user)
        if first:
            messages.info(request, "You are the first user, so you are this install's administrator.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def tokens(request):
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = ApiToken.issue(request.user, form.cleaned_data["name"])
        form = TokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {"form": form, "tokens": request.user.api_tokens.all(), "new_token": new_token},
    )


@login_required
@require_POST
def revoke_token(request, token_id):
    get_object_or_404(ApiToken, id=token_id, user=request.user).delete()
    messages.info(request, "Token revoked.")
    return redirect("tokens")
