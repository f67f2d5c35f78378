"""Performance benchmarks of the platform: ``python -m benchmarks all [--quick]``.

Every figure is measured against a baseline taken in the same run on the same machine
(a bare PyTorch loop, the machine's matmul peak, the ``ar`` objective, one-at-a-time
generation, ...), so the ratios, not the absolute numbers, are what a change is judged on.
Results go to ``benchmarks/RESULTS.md`` (``RESULTS.quick.md`` with ``--quick``).
"""
