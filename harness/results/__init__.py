"""The results format: one folder per run, never overwritten.

results/<run-id>/
  run.json          manifest (schema "tomcat-bench/run", versioned): what ran, on what, summary
  requests.parquet  one row per request: t_s,user,session,node,counter,outcome,latency_ms,status
                    (+ intended_s,corrected_ms in open-model runs: when the schedule meant to
                    send it, and its latency corrected for coordinated omission); runs
                    before schema 4 have the same columns as requests.csv.gz, still read
                    (results/requests.py reads and writes both)
  latency_hdr.json  (schema 2) HDR histograms of latency in microseconds, "all" and per node,
                    merged across Locust workers; HdrHistogram's portable base64 encoding
  locust_*.csv      Locust's own stats, as Locust wrote them
  logs/             the lab's server logs of this run
  report.html       made from the files above alone

report and compare read only these files, so they can be rebuilt without the lab.

The package imports nothing itself: a locustfile takes the outcome words
(results/outcomes.py) without numpy, pyarrow and pydantic, which cost each Locust process
0.45 s of CPU and 54 MB. A run's folder and its files are results/run_folder.py.
"""
