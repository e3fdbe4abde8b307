"""The bench's own app: the job classes it dispatches (``bench.benchapp.jobs``)."""
