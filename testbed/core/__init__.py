"""What every part of the testbed stands on, and nothing of Airflow or Docker: the errors it
raises on purpose, the exit codes, where it keeps its state, the labels its objects carry, bounded
calls, the run's history, progress output, Ctrl-C deferral, per-run secrets and the DSL's value
types."""
