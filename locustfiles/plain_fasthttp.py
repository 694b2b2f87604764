"""The baseline for `make perf`: Locust's FastHttpUser on session.jsp and nothing else.

Each user keeps its cookie (FastHttpUser's cookie jar), so the server does the same work
as for session_stability.py; the reply is not parsed, classified or recorded. Comparing
the two on one target prices the session tracking alone.

    locust -f locustfiles/plain_fasthttp.py --host http://127.0.1.11:8080

--plain-parallel N (LOCUST_PLAIN_PARALLEL): the parallel:N scenario's requests instead,
N at a time on its page, each with its own id, still unread: the baseline that prices
the tracking of parallel:N apart from the cost of its request pattern.
"""

from __future__ import annotations

import itertools
from typing import Any

import gevent
import quick_exit  # noqa: F401  (leaves at once once Locust has shut down)
from locust import FastHttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--plain-parallel",
        env_var="LOCUST_PLAIN_PARALLEL",
        type=int,
        default=0,
        help="requests in flight per user on the parallel page (0: the counter page)",
        include_in_web_ui=False,
    )


class PlainUser(FastHttpUser):
    wait_time = constant(0)
    concurrency = 16  # enough connections for --plain-parallel up to 16

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.width = int(getattr(options, "plain_parallel", 0) or 0) if options else 0
        self.ids = itertools.count(1)
        if self.width:
            self._parallel_get(next(self.ids))  # the session first, as the tracked user does

    def _parallel_get(self, request_id: int) -> None:
        self.client.get(f"/session.jsp?scenario=parallel&id={request_id}", name="/session.jsp")

    @task
    def session_page(self) -> None:
        if not self.width:
            self.client.get("/session.jsp")
            return
        ids = [next(self.ids) for _ in range(self.width)]
        gevent.joinall([gevent.spawn(self._parallel_get, i) for i in ids])
