"""gunicorn's settings beside the command line: a worker's metrics files are marked dead when it
exits, so django-prometheus' multiprocess gauges count only living workers."""
import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
