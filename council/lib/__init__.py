"""Small Django-free helpers."""
