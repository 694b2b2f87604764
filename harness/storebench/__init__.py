"""storebench: Redis against Memcached, measured fairly (python -m harness storebench).

One module per job: servers (start the stores), cells (Python-client cells), native
(redis-benchmark, memaslap), memory (bytes per session), restart (what survives),
e2e (through Tomcat), claims (the guide's claims judged), report (report.html),
run (the phases in order, the results folder).
"""

from harness.storebench.run import Outcome, ProgressCounter, StorebenchPlan, run_storebench

__all__ = ["Outcome", "ProgressCounter", "StorebenchPlan", "run_storebench"]
