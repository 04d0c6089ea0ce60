from django.conf import settings


def signup(request):
    """Whether this site takes sign-ups (COUNCIL_SIGNUP), for the links to the sign-up page."""
    return {"signup_open": settings.COUNCIL_SIGNUP}
