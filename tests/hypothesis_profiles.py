"""Hypothesis profiles for the whole suite, chosen by the HYPOTHESIS_PROFILE env var.

`ci` (the default) keeps example counts small for a 2-core CI machine; `thorough`
is for a long local run: `HYPOTHESIS_PROFILE=thorough python -m pytest tests/crm`.
No example database is kept, and what Hypothesis still writes (the example patches
it saves when a test fails) goes to the temp directory, not into the tree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "crm-adapter-hypothesis")

settings.register_profile(
    "base",
    deadline=None,  # shared, slow CI machine: timing is not what these tests check
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("quick", settings.get_profile("base"), max_examples=20)  # --quick
settings.register_profile("ci", settings.get_profile("base"), max_examples=100)
settings.register_profile("thorough", settings.get_profile("base"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
