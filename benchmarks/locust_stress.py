"""Stress ramp for benchmarks/stress.sh: the user mix of locustfile.py at 10, 50, 100, 250, 500 and 1,000 concurrent
users, STEP_SECONDS (default 20) at each step, then stop. Used together with the locustfile:

    locust -f benchmarks/locustfile.py,benchmarks/locust_stress.py --headless --host ...
"""

from __future__ import annotations

import os

from locust import LoadTestShape

STEPS = (10, 50, 100, 250, 500, 1000)


class StepRamp(LoadTestShape):
    step_seconds = int(os.environ.get("STEP_SECONDS", "20"))

    def tick(self) -> tuple[int, float] | None:
        step = int(self.get_run_time() // self.step_seconds)
        if step >= len(STEPS):
            return None
        users = STEPS[step]
        return users, float(max(50, users // 2))  # reach each step within about two seconds
