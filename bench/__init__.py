"""localtask's benchmarks against ClearML, MLflow, huey and the physical floor (see README.md).

Run them with ``python -m bench`` from the project folder. The scripts import each other as
plain modules (``import benchlib``), so that each also runs on its own: ``python bench/NAME.py``.
"""
