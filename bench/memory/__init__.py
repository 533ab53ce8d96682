"""Memory benchmark: peak RSS of the web and worker processes under load, against baselines.

`python -m bench.memory` prints a table; `run(...)` returns the figures as a dict.
"""

from bench.memory.runner import format_table, run

__all__ = ["format_table", "run"]
