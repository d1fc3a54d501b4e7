import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import reference

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

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

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: the tests expect ../shared/data beside the checkout")
    return SHARED_DATA


@pytest.fixture(params=reference.BACKENDS)
def backend(request):
    """Run the test once per reference backend ("numpy", "numba"), restoring the previous one after."""
    previous = reference.get_backend()
    reference.set_backend(request.param)
    yield request.param
    reference.set_backend(previous)
