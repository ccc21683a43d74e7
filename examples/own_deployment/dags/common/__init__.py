"""Helpers shared by this deployment's DAGs (the DAG folder is on the tasks' import path)."""
