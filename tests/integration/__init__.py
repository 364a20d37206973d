"""End-to-end and integration tests: the ``kho`` command line, crash and resume with killed processes,
storage faults, the API, the real Airflow scheduler and a Celery cluster, PostgreSQL, moto and Ceph RGW.

A package (this file), as ``tests/unit`` is, so that a module here and one of the same name there are
different modules."""
