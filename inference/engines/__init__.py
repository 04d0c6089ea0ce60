"""One engine per file, each behind the protocol in base.py."""
