from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    pass


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, initial="script")
