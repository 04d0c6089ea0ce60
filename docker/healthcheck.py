"""Container healthcheck: is an HTTP server answering on this container's port?

    python docker/healthcheck.py                      # http://127.0.0.1:8000/accounts/login/
    python docker/healthcheck.py http://127.0.0.1:8001/health

The default is the login page: anonymous, no database query, and a 200 that Django
doesn't log as a warning (an API URL would answer 401 and log one every check).

Exit 0 when the server answers with a status below 500. A redirect (COUNCIL_SECURE=true
sends plain HTTP to HTTPS) or a 400 (the Host header is not in ALLOWED_HOSTS) still
means daphne is up and Django answered; a 5xx, a refused connection or a timeout does
not. Standard library only, so it runs in any of the images.
"""

from __future__ import annotations

import http.client
import sys
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8000/accounts/login/"


def check(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Host": "localhost"})
        status = conn.getresponse().status
    except OSError as exc:
        return False, f"{url}: {exc}"
    finally:
        conn.close()
    return status < 500, f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    ok, message = check(argv[1] if len(argv) > 1 else DEFAULT_URL)
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
