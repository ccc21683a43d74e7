"""Airflow production testbed: boot a real Airflow cluster in Docker, break it, check promises."""

__version__ = "0.1.0"
