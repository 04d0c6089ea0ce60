"""Council: compare locally served language models side by side."""

from council.celery import app as celery_app

__all__ = ["celery_app"]
