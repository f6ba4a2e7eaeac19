"""Training: the trainer and its parts (validation, schedules, best-and-stopping, averaging,
fine-tuning, tracking, distributed runs, precision, the console report) and ``s2s doctor``.

The top job: it validates through decoding and evaluation and records probes through viz.
"""
