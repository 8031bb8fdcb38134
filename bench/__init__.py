"""`python -m bench`: ingestion, retrieval and generation benchmarks (issue "Benchmarks").

Prints a Markdown table with targets (pass/miss) and writes bench/results/latest.json with the
machine description. `--quick` is a smoke run (small sizes); the default full run is sized to
finish in under 15 minutes on a 2-core machine. Timings are medians; on a shared machine they are
noisy, so the JSON also records the load average and the CPU share each section got.
"""

import os as _os

# The environment as the user started us, for the subprocesses (retrieval workers, probes): each must
# start from it, not from whatever this process changed while loading its libraries.
ORIGINAL_ENV = dict(_os.environ)
