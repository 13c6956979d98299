"""The AUTOTEST page served by the Airflow api-server: the FastAPI app (app.py), what it shows (views.py)."""
