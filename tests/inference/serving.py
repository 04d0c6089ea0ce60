"""`python -m inference serve` in a child process, for the tests that talk to it over HTTP."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading


class ServeProcess:
    """`python -m inference serve` as a child process.

    Starts it on a free port (`--port 0`), waits for the line that names its URL, and
    stops it on exit. Every wait has a deadline.
    """

    def __init__(self, model: str, mode: str = "thinking", *, start_timeout: float = 120.0,
                 extra_args: tuple[str, ...] = (), env: dict | None = None) -> None:
        self.args = [sys.executable, "-m", "inference", "serve", "--model", model, "--mode", mode,
                     "--host", "127.0.0.1", "--port", "0", *extra_args]
        self.start_timeout = start_timeout
        self.env = env
        self.proc = None
        self.base_url = ""
        self.model_id = ""

    def __enter__(self) -> ServeProcess:
        # stderr to a file, not a pipe: nobody drains a pipe, and llama.cpp logs a lot.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=self.env)
        found: list[str] = []

        def read_until_url() -> None:  # anything a library prints first is skipped
            for text in self.proc.stdout:
                if text.startswith("serving ") and " on http://" in text:
                    found.append(text)
                    return

        reader = threading.Thread(target=read_until_url, daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        line = found[0] if found else ""
        if not line:
            self.__exit__(None, None, None)
            self.stderr.seek(0)
            err = self.stderr.read()[-4000:]
            raise RuntimeError(f"inference serve did not start within {self.start_timeout:g}s: {line!r} {err}")
        self.model_id = line.split()[1]
        self.base_url = line.rsplit(" on ", 1)[1].strip()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
