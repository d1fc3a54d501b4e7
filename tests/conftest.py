import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from arc import reference

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"

# "ci": reproducible and bounded (the default); "dev": a longer search, `HYPOTHESIS_PROFILE=dev pytest`.
settings.register_profile(
    "ci", derandomize=True, max_examples=20, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", max_examples=400, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_thread")`): on a
    shared machine OpenMP threads waiting for each other make small tensors' ops several times slower."""
    from arc.runtime.device import cpu_threads

    with cpu_threads(1):
        yield


@pytest.fixture(scope="session")
def test_data() -> Path:
    """`tests/data/`: real files the tests read (the 174 Something-Something V1 class names)."""
    return DATA


@pytest.fixture(params=reference.BACKENDS)
def backend(request):
    """Run the test once per reference backend ("numpy", "numba"), restoring the previous one after."""
    previous = reference.get_backend()
    reference.set_backend(request.param)
    yield request.param
    reference.set_backend(previous)
