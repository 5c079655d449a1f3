"""Markdown tables from locust's CSV files, for benchmarks/RESULTS.md.

python benchmarks/locust_report.py endpoints OUT/stats_stats.csv      # one row per endpoint, then all
python benchmarks/locust_report.py steps OUT/stats_stats_history.csv  # one row per user count (stress ramp)
"""

from __future__ import annotations

import csv
import sys


def endpoints(path: str) -> None:
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    print("| endpoint | requests | RPS | P50 ms | P95 ms | P99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", -float(r["Requests/s"]))):
        count, failures = int(row["Request Count"]), int(row["Failure Count"])
        name = "**all**" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        ratio = 100.0 * failures / count if count else 0.0
        print(
            f"| {name} | {count} | {float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} "
            f"| {ratio:.2f}% |"
        )


def steps(path: str) -> None:
    """The last aggregated sample at each user count: locust's current RPS and its percentiles over the last 10 s."""
    last: dict[int, dict[str, str]] = {}
    first_total: dict[int, tuple[int, int]] = {}
    samples: dict[int, int] = {}
    previous = (0, 0)
    for row in csv.DictReader(open(path, encoding="utf-8")):
        if row["Name"] != "Aggregated" or row["50%"] in ("N/A", ""):
            continue
        users = int(row["User Count"])
        totals = (int(row["Total Request Count"]), int(row["Total Failure Count"]))
        first_total.setdefault(users, previous)
        samples[users] = samples.get(users, 0) + 1
        last[users] = row
        previous = totals
    # user counts seen for under three seconds are the spawn between two steps, not a step
    last = {users: row for users, row in last.items() if samples[users] >= 3}
    print("| users | RPS | P50 ms | P95 ms | P99 ms | requests at this step | errors at this step |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for users, row in sorted(last.items()):
        start_requests, start_failures = first_total[users]
        requests = int(row["Total Request Count"]) - start_requests
        failures = int(row["Total Failure Count"]) - start_failures
        ratio = 100.0 * failures / requests if requests else 0.0
        print(
            f"| {users} | {float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} | {requests} "
            f"| {ratio:.2f}% |"
        )


if __name__ == "__main__":
    {"endpoints": endpoints, "steps": steps}[sys.argv[1]](sys.argv[2])
