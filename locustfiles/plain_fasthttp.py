"""The baseline for `make perf`: Locust's FastHttpUser on session.jsp and nothing else.

Each user keeps its cookie (FastHttpUser's cookie jar), so the server does the same work
as for session_stability.py; the reply is not parsed, classified or recorded. Comparing
the two on one target prices the session tracking alone.

    locust -f locustfiles/plain_fasthttp.py --host http://127.0.1.11:8080
"""

from __future__ import annotations

from locust import FastHttpUser, constant, task


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def session_page(self) -> None:
        self.client.get("/session.jsp")
