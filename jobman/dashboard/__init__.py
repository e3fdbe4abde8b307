"""The dashboard: queues, workers, throughput, failures, runtimes and batches, in the admin.

``readmodel`` reads the state of Redis and the database (also for ``jobman_status`` and
``jobman_failed``), ``figures`` turns it into the dashboard's figures, ``charts`` draws
them as SVG, and ``views`` serves the page and its JSON.
"""
