"""Loopback helpers for tests and benchmarks that start servers of their own: ports, daphne, a Celery worker."""

import socket
import subprocess
import sys
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Return once something accepts on `port`; raise if `process` exits or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


def start_daphne(port: int, *, cwd, env: dict, log) -> subprocess.Popen:
    """The real ASGI server on 127.0.0.1:`port`, once it listens; stopped again if it never does."""
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "council.asgi:application"],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
    except Exception:
        stop(process)
        raise
    return process


def start_worker(queue: str, *, cwd, env: dict, log, concurrency: int = 2, loglevel: str = "INFO") -> subprocess.Popen:
    """A real `celery worker` serving `queue` on a threads pool (the GPU workers' pool)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "council", "worker", "-Q", queue, "--pool", "threads",
         "--concurrency", str(concurrency), "-l", loglevel, "--without-gossip", "--without-mingle"],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate `process`; kill it if it has not exited after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
