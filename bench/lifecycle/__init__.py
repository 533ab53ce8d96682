"""Order lifecycles through the real path, this code against today's (issue #12).

`python -m bench.lifecycle [--orders N] [--baseline-ref REF]`: see `runner`.
"""
