"""Benchmarks of jupyter-ysync's rooms against the servers users would otherwise pick.

Run ``python -m benchmarks --quick`` (about two minutes) or ``python -m benchmarks``
(the full sizes of issue 4); see ``benchmarks/README.md`` for what each figure means.
"""
