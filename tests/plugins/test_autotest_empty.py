"""The AUTOTEST page before any week ran: a lineage DB that is missing, or migrated but empty, gives an empty
state that says how to run a week (never a traceback), and unknown ids still answer 404 with the id.

The app is called in-process with Airflow's login dependency lifted; the login itself is tested against a real
api-server in test_autotest_page.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient


def _client(url: str) -> Iterator[TestClient]:
    from autotest_ui.app import create_app, require_login

    app = create_app(url)
    app.dependency_overrides[require_login] = lambda: None
    with TestClient(app, root_path="/autotest") as client:
        yield client
    app.state.store_provider.close()


def _check_empty_state(client: TestClient) -> None:
    from autotest_lib.report.lineage import EDGE_KINDS

    page = client.get("/")
    assert page.status_code == 200
    assert 'id="empty-state"' in page.text and "autotest_weekly" in page.text and "airflow dags test" in page.text
    assert "Traceback" not in page.text
    weeks = client.get("/api/weeks").json()
    assert weeks["empty"] is True and weeks["weeks"] == [] and "autotest_weekly" in weeks["hint"]
    assert client.get("/api/lineage").json() == {"lineage": {"nodes": [], "edges": [], "kinds": list(EDGE_KINDS)}}
    assert client.get("/api/track-record").json()["track_record"]["weeks"] == []  # no paper week marked yet
    for path, ident in (("/api/weeks/2024-09-08", "2024-09-08"), ("/weeks/2024-09-08", "2024-09-08"), ("/api/models/m-1", "m-1")):
        response = client.get(path)
        assert response.status_code == 404 and ident in response.text, (path, response.text)


def test_a_database_never_migrated_shows_how_to_run_a_week(tmp_path) -> None:
    for client in _client(f"sqlite:///{tmp_path / 'never_migrated.sqlite'}"):
        _check_empty_state(client)


def test_a_migrated_database_without_weeks_shows_how_to_run_a_week(lineage_url: str) -> None:
    for client in _client(lineage_url):
        _check_empty_state(client)


def test_an_unreachable_database_answers_503_naming_it_without_the_password(tmp_path) -> None:
    url = "postgresql+psycopg2://autotest:s3cret@127.0.0.1:1/lineage?connect_timeout=2"
    for client in _client(url):
        response = client.get("/api/weeks")
        assert response.status_code == 503
        assert "127.0.0.1:1/lineage" in response.text and "s3cret" not in response.text
