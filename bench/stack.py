"""The stack under measurement, on this machine and outside containers: the processes that
tests/support/servers.py starts (a database of the bench's own, the Stripe simulator, gunicorn
with the image's config, nginx with the repository's templates), and what the bench reads of
them: workers, CPU time and memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from tests.support import servers
from tests.support.servers import (
    APP_DIR,
    GUNICORN_CONFIG,
    HOST,
    REPO_DIR,
    StackError,
    free_port,
    manage,
    nginx,
    server_env,
    simulator,
)

# What the bench takes from the shared harness as it is.
__all__ = [
    "APP_DIR",
    "GUNICORN_CONFIG",
    "HOST",
    "REPO_DIR",
    "StackError",
    "free_port",
    "manage",
    "nginx",
    "server_env",
    "simulator",
]

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop"


@dataclass
class Stack:
    scratch: Path
    database_url: str
    simulator_url: str
    nginx_url: str
    gunicorn_port: int
    env: dict[str, str]
    gunicorn: subprocess.Popen[str] | None = None

    def gunicorn_workers(self) -> list[int]:
        assert self.gunicorn is not None
        return child_pids(self.gunicorn.pid)


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx", "envsubst") if shutil.which(tool) is None]
    if missing:
        packages = " ".join("gettext-base" if tool == "envsubst" else tool for tool in missing)
        raise StackError(
            f"The bench needs {', '.join(missing)} on PATH: apt-get install {packages}"
        )


def bench_database() -> AbstractContextManager[str]:
    """A database of the bench's own beside the one DATABASE_URL names, dropped afterwards."""
    return servers.fresh_database("_bench", default_url=DEFAULT_DATABASE_URL)


def start_gunicorn(stack: Stack, extra_env: dict[str, str] | None = None) -> None:
    """gunicorn with deploy/gunicorn.conf.py; WEB_CONCURRENCY and GUNICORN_THREADS override it."""
    env = {**stack.env, **(extra_env or {})}
    stack.gunicorn = servers.start_gunicorn(env, stack.scratch / "gunicorn.log")


def workers_booted(stack: Stack) -> int:
    """Workers gunicorn has booted so far: the first ones and each one recycled since."""
    log = stack.scratch / "gunicorn.log"
    return log.read_text(errors="replace").count("Booting worker with pid")


def stop_gunicorn(stack: Stack) -> None:
    if stack.gunicorn is not None:
        servers.stop(stack.gunicorn)
        stack.gunicorn = None


def child_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except OSError:
        return []


def cpu_seconds(parent: int) -> float:
    """CPU time of a process tree: the parent's, its reaped children's and its live children's.

    Recycled gunicorn workers are counted too: a reaped child's time moves to its parent.
    """
    ticks = os.sysconf("SC_CLK_TCK")

    def times(pid: int, fields: slice) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        # utime, stime, cutime, cstime follow the command name, which may contain spaces.
        values = stat.rsplit(")", 1)[1].split()[11:15]
        return sum(int(value) for value in values[fields]) / ticks

    return times(parent, slice(0, 4)) + sum(times(pid, slice(0, 2)) for pid in child_pids(parent))


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
