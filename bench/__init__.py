"""Benchmarks of django-jobman against bare RQ: ``python -m bench --help``."""
