"""Sign up, and API tokens. Log in and out are Django's own views."""

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from council.accounts.forms import SignupForm, TokenForm
from council.accounts.models import ApiToken


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            first = not get_user_model().objects.exists()
            user = form.save(commit=False)
            # The first account of a fresh install administers it.
            user.is_staff = user.is_superuser = first
            user.save()
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
