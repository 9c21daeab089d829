"""Every container test needs a running stack; none starts one (`make up` does)."""

from __future__ import annotations

import pytest

from shop.tests.stack import Simulator
from tests.containers.stack import SIMULATOR_URL, require_stack


@pytest.fixture(scope="module", autouse=True)
def stack() -> None:
    require_stack()


@pytest.fixture(scope="module")
def simulator() -> Simulator:
    return Simulator(SIMULATOR_URL)
