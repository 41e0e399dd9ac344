"""rhworker benchmarks: ``python -m benchmarks all`` (see __main__)."""
