"""python -m harness: the command line.

Once a command has returned, the process leaves without the interpreter's teardown of its
modules (plotly, pyarrow, numpy, rich): 0.1 s of every command's wait, after everything
was written. The atexit handlers still run first (the shared JMX reader stops in one); a
thread still at work, or an error, leaves the usual way.
"""

import atexit
import os
import sys
import threading

from harness.cli import main


def _others_at_work() -> bool:
    main_thread = threading.main_thread()
    return any(t is not main_thread and not t.daemon for t in threading.enumerate())


code = main()
if _others_at_work():
    sys.exit(code)  # Python joins them first
atexit._run_exitfuncs()  # what sys.exit would run, without the teardown after it
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
