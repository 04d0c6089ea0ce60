"""Logged-in clients for the arena tests (the helpers live in arena_helpers.py)."""

import pytest
from django.test import Client


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client
