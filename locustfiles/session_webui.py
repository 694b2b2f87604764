"""The Sessions tab in Locust's web UI, HDR latency histograms, and the fault control.

Imported by session_stability.py; it only registers Locust event listeners. The tab
is Locust's documented extension point: `extended_tabs` / `extended_tables` in the
web UI's template args, and an `extended_stats` entry added to every
/stats/requests reply (which the UI polls every 2 s while a test runs).

Distributed mode: each worker sends what its board changed since its last report
(report_to_master, every 3 s and once more when it quits); the master merges it
(worker_report) and is the only process that serves the tab and writes the HDR file.

The fault control (`--fault-control URL`, given by `python -m harness webui`) is the
harness's own HTTP endpoint: the locustfile never touches the lab, it forwards a
click on the tab's buttons there, and the harness delivers the fault and records
its time for the results.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import gevent
from flask import Response, jsonify, request
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, WorkerRunner
from session_board import SessionBoard

log = logging.getLogger(__name__)

TAB_KEY = "sessions"
REPORT_KEY = "tomcat_bench_sessions"
FAULT_POLL_S = 1.0
CONTROL_TIMEOUT_S = 5.0

board = SessionBoard()
_reported_by: set[str] = set()


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--session-hdr",
        env_var="LOCUST_SESSION_HDR",
        default="",
        help="JSON file for the HDR latency histograms (microseconds), written at exit",
        include_in_web_ui=False,  # the harness's plumbing, not a knob for the start form
    )
    parser.add_argument(
        "--fault-control",
        env_var="LOCUST_FAULT_CONTROL",
        default="",
        help="URL of the harness's fault control; enables the fault buttons of the Sessions tab",
        include_in_web_ui=False,
    )


def is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def worker_index(environment: Environment) -> int | None:
    """This worker's index (0, 1, ...), assigned by the master; None outside a worker."""
    if not is_worker(environment):
        return None
    index = getattr(environment.runner, "worker_index", -1)
    return index if index >= 0 else None


def board_wanted() -> bool:
    """Whether anyone reads the board: the web UI, a master, or --session-hdr (known once
    Locust's init event has fired). A headless bench builds its HDR file from the records
    afterwards instead, so the board's per-request cost (about 8 us, mostly HDR
    recording) stays off the load; callers check this once, not per request."""
    return _board_wanted


def observe(user: int, outcome: str, node: str, latency_ms: float, epoch: float) -> None:
    if _board_wanted:
        board.observe(user, outcome, node, latency_ms, epoch)


# -- distributed mode -------------------------------------------------------------


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = board.delta()


@events.worker_report.add_listener
def _merge(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if REPORT_KEY in data:
        board.merge(data[REPORT_KEY])
        _reported_by.add(client_id)
        board.processes = len(_reported_by)


# -- lifecycle ------------------------------------------------------------------------


@events.quit.add_listener
def _write_hdr(**_: Any) -> None:
    # `quit` fires after the master's runner quit, i.e. after the workers' final reports.
    environment = _environment
    if environment is None or is_worker(environment):
        return
    path = getattr(environment.parsed_options, "session_hdr", "")
    if path:
        board.latencies.write(Path(path), board.processes)


_environment: Environment | None = None
_board_wanted = False


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    global _environment, _board_wanted  # noqa: PLW0603
    _environment = environment
    options = environment.parsed_options
    _board_wanted = bool(
        environment.web_ui
        or not isinstance(environment.runner, LocalRunner)  # a master or a worker
        or (options is not None and getattr(options, "session_hdr", ""))
    )
    # Only a worker reports deltas to a master; elsewhere they would be dead weight.
    board.track_delta = is_worker(environment)
    if is_worker(environment):
        return
    control = getattr(environment.parsed_options, "fault_control", "") or ""
    if control:
        gevent.spawn(_poll_faults, control.rstrip("/"))
    if environment.web_ui:
        _extend_web_ui(environment, control.rstrip("/"))


# -- fault control ------------------------------------------------------------------


def _control_call(url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(  # noqa: S310 - a loopback URL the harness gave us
        url, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=CONTROL_TIMEOUT_S) as reply:  # noqa: S310
            result: dict[str, Any] = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        result = json.loads(error.read() or b"{}") or {"ok": False, "error": str(error)}
    return result


def _poll_faults(control: str) -> None:
    """Keep the board's fault list in step with the harness (restores finish later)."""
    while True:
        try:
            board.faults = _control_call(f"{control}/faults")["faults"]
        except (OSError, ValueError, KeyError) as error:
            log.debug("fault control not reachable: %s", error)
        gevent.sleep(FAULT_POLL_S)


def _panel(control: str) -> str:
    """The fault buttons, shown under the Sessions tab only (a small script watches ?tab=)."""
    if not control:
        body = "<i>not attached to a lab: start with <code>python -m harness webui</code></i>"
    else:
        try:
            spec = _control_call(f"{control}/targets")
            buttons = "".join(
                f'<button data-action="{html.escape(a)}" data-target="{html.escape(t)}">'
                f"{html.escape(label)} {html.escape(t)}</button> "
                for t in spec["targets"]
                for a, label in spec["actions"].items()
            )
            body = f'{buttons}<div id="tb-fault-status" style="margin-top:4px"></div>'
        except (OSError, ValueError, KeyError) as error:
            body = f"<i>fault control unreachable: {html.escape(str(error))}</i>"
    return _PANEL.replace("{{BODY}}", body).replace("{{TAB}}", TAB_KEY)


_PANEL = """
<div id="tb-faults" style="display:none;position:fixed;bottom:56px;right:16px;z-index:2000;
  background:#fff;color:#222;border:2px solid #b22222;border-radius:6px;padding:8px 12px;
  font:14px sans-serif;max-width:520px">
  <b>Fault on the embedded lab</b> (recorded in the run's results)<br>{{BODY}}
</div>
<script>
(function () {
  const panel = document.getElementById("tb-faults");
  function show() {
    const tab = new URLSearchParams(window.location.search).get("tab");
    panel.style.display = tab === "{{TAB}}" ? "block" : "none";
  }
  setInterval(show, 300);
  show();
  panel.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const status = document.getElementById("tb-fault-status");
    button.disabled = true;
    status.textContent = "sending " + button.textContent + " ...";
    try {
      const reply = await fetch("sessions/fault", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({action: button.dataset.action, target: button.dataset.target}),
      });
      const result = await reply.json();
      status.textContent = result.ok
        ? result.event.action + " " + result.event.target + " at " + result.event.at_utc
        : "failed: " + result.error;
    } catch (error) {
      status.textContent = "failed: " + error;
    }
    button.disabled = false;
  });
})();
</script>
"""


# -- web UI -----------------------------------------------------------------------------


def _extend_web_ui(environment: Environment, control: str) -> None:
    web_ui = environment.web_ui
    assert web_ui is not None
    # update_template_args() merges into these, so they stay for every render of "/".
    web_ui.template_args["extended_tabs"] = [{"title": "Sessions", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": TAB_KEY,
            "structure": [
                {"key": "what", "title": "What"},
                {"key": "value", "title": "Value"},
                {"key": "detail", "title": "Detail"},
            ],
        }
    ]
    app = web_ui.app

    @app.after_request
    def _extend(response: Response) -> Response:
        if request.path.endswith("/stats/requests") and response.is_json:
            # The start form may have changed it: read it at each refresh.
            options = environment.parsed_options
            board.scenario = str(getattr(options, "scenario", "") or "counter")
            rows = board.rows()
            payload = {**(response.json or {}), "extended_stats": [{"key": TAB_KEY, "data": rows}]}
            response.set_data(json.dumps(payload))
        elif request.path == "/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", _panel(control) + "</body>", 1))
        return response

    @app.route("/sessions/state")
    def _state() -> Response:
        """The tab's numbers as JSON, for scripts and tests."""
        return jsonify(
            {**board.counts(), "first_epoch": board.first_epoch, "processes": board.processes}
        )

    @app.route("/sessions/fault", methods=["POST"])
    def _fault() -> Response | tuple[Response, int]:
        if not control:
            return jsonify({"ok": False, "error": "no --fault-control: not attached to a lab"}), 400
        body = request.get_json(silent=True) or {}
        try:
            result = _control_call(
                f"{control}/faults",
                {"action": str(body.get("action", "")), "target": str(body.get("target", ""))},
            )
        except (OSError, ValueError) as error:
            return jsonify({"ok": False, "error": f"fault control unreachable: {error}"}), 502
        if result.get("ok"):
            board.faults = [*board.faults, result["event"]]
        return jsonify(result), (200 if result.get("ok") else 400)
