"""Faults that tests inject into the next matching API requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

MAX_DELAY_SECONDS = 60.0


@dataclass(frozen=True)
class Fault:
    method: str
    path: str
    status: HTTPStatus | None = None
    delay: float = 0.0
    drop: bool = False
    times: int = 1
    execute: bool = False

    @property
    def answers_without_executing(self) -> bool:
        return not self.execute and (self.drop or self.status is not None)


def parse_fault(payload: dict[str, Any]) -> Fault:
    """Build a fault from the control API's JSON, raising ValueError with a readable reason."""
    unknown = set(payload) - {"method", "path", "status", "delay", "drop", "times", "execute"}
    if unknown:
        raise ValueError(f"Unknown fault fields: {', '.join(sorted(unknown))}.")
    method = payload.get("method", "POST")
    path = payload.get("path", "/v1/")
    status = payload.get("status")
    delay = payload.get("delay", 0)
    times = payload.get("times", 1)
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("A fault needs a method and a path starting with '/'.")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise ValueError("A fault's status must be an HTTP error status (400-599).")
    if not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"A fault's delay must be between 0 and {MAX_DELAY_SECONDS} seconds.")
    if not isinstance(times, int) or times < 1:
        raise ValueError("A fault's times must be a positive integer.")
    fault = Fault(
        method=method.upper(),
        path=path,
        status=None if status is None else HTTPStatus(status),
        delay=float(delay),
        drop=bool(payload.get("drop", False)),
        times=times,
        execute=bool(payload.get("execute", False)),
    )
    if fault.status is None and not fault.drop and not fault.delay:
        raise ValueError("A fault needs a status, a delay or drop.")
    return fault


@dataclass
class _Armed:
    fault: Fault
    remaining: int


class FaultList:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, fault.times))

    def take(self, method: str, path: str) -> Fault | None:
        """Use up one application of the oldest fault matching this request, if any."""
        with self._lock:
            for armed in self._armed:
                if armed.fault.method == method and path.startswith(armed.fault.path):
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    return armed.fault
        return None
