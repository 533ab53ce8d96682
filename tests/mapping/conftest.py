from __future__ import annotations

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
