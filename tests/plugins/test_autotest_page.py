"""The AUTOTEST page on a real api-server: behind Airflow's login, 404 with the id for unknown ids, and in a real
headless Chromium (Debian's package, driven through its chromedriver by selenium) after logging in through
Airflow's own login form: the leaderboard rows and the lineage tree are on the page, a screenshot is kept."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
ENDPOINTS = ("/autotest/", "/autotest/weeks/2024-09-01", "/autotest/api/weeks", "/autotest/api/lineage", "/autotest/static/plotly.min.js")


@pytest.fixture(scope="module")
def token(api_server) -> str:
    return api_server.token()


@pytest.fixture(scope="module")
def latest_week(lineage_db: str) -> dt.date:
    """The newest week the fixture ran."""
    from autotest_lib.registry import LineageStore

    with LineageStore(lineage_db) as store:
        return store.list_weeks()[-1].week


def _get(server, path: str, token: str | None = None, **headers: str) -> httpx.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=60)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_without_a_login_every_endpoint_answers_401_or_403_and_no_data(api_server, path: str) -> None:
    anonymous = _get(api_server, path)
    assert anonymous.status_code == 401, anonymous.text
    forged = _get(api_server, path, token="not-a-jwt")
    assert forged.status_code == 403, forged.text
    for response in (anonymous, forged):
        assert "2024-" not in response.text and "explorer" not in response.text


def test_the_plugin_is_registered_as_a_top_level_view(api_server, token: str) -> None:
    plugins = _get(api_server, "/api/v2/plugins", token).json()["plugins"]
    mine = next(p for p in plugins if p["name"] == "autotest")
    assert mine["fastapi_apps"][0]["url_prefix"] == "/autotest"
    view = mine["external_views"][0]
    assert view["url_route"] == "autotest" and view["href"] == "/autotest/" and view["nav_top_level"] is True


def test_week_json_has_the_leaderboard_champion_and_new_markers(api_server, lineage_db: str, token: str, latest_week: dt.date) -> None:
    from autotest_lib.registry import LineageStore

    data = _get(api_server, f"/autotest/api/weeks/{latest_week.isoformat()}", token).json()
    with LineageStore(lineage_db) as store:
        created = {m.model_id for m in store.list_models(week=latest_week)}
        champion = store.current_champion(before_week=latest_week + dt.timedelta(days=1))
    rows = data["leaderboard"]
    assert rows and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["model_id"] for r in rows if r["new"]} == {r["model_id"] for r in rows} & created
    assert any(not r["new"] for r in rows), "last week's models are ranked again and are not new"
    assert data["champion"]["model_id"] == champion.model_id
    scores = [r["score"] for r in rows if r["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    # a PBT slot is listed once, with its latest round
    pbt = [r["model_id"].rsplit("-r", 1)[0] for r in rows if r["role"] == "pbt"]
    assert pbt and len(pbt) == len(set(pbt))


def test_lineage_json_has_every_model_and_each_kind_of_link(api_server, lineage_db: str, token: str) -> None:
    from autotest_lib.kinds import EventKind
    from autotest_lib.registry import LineageStore

    graph = _get(api_server, "/autotest/api/lineage", token).json()["lineage"]
    with LineageStore(lineage_db) as store:
        models = store.list_models()
        exploits = store.events(kind=EventKind.PBT_EXPLOIT)
    ids = {n["id"] for n in graph["nodes"]}
    assert ids == {m.model_id for m in models}
    edges = {(e["parent"], e["child"]): e["kind"] for e in graph["edges"]}
    assert set(edges) == {(m.parent_id, m.model_id) for m in models if m.parent_id}
    assert exploits, "the two-round PBT run exploits at least once (quantile 0.25 of 8 members)"
    trained = [e for e in exploits if e.payload["next_model_id"] in ids]  # the last round's copies train next run
    assert trained, "round 1's exploits made the members round 2 trained"
    for event in trained:
        assert edges[(event.payload["winner"], event.payload["next_model_id"])] == "exploit"
    assert "continuation" in edges.values()


def test_unknown_week_and_model_answer_404_with_the_id(api_server, token: str) -> None:
    for path, ident in (
        ("/autotest/api/weeks/1999-01-03", "1999-01-03"),
        ("/autotest/weeks/1999-01-03", "1999-01-03"),
        ("/autotest/api/weeks/not-a-week", "not-a-week"),
        ("/autotest/api/models/no-such-model", "no-such-model"),
        ("/autotest/models/no-such-model", "no-such-model"),
    ):
        response = _get(api_server, path, token)
        assert response.status_code == 404, (path, response.text)
        assert ident in response.text and "Traceback" not in response.text


def test_model_page_shows_the_path_from_the_root(api_server, lineage_db: str, token: str, latest_week: dt.date) -> None:
    from autotest_lib.registry import LineageStore

    with LineageStore(lineage_db) as store:
        child = next(m for m in store.list_models(week=latest_week) if m.parent_id and m.role != "pbt")
    detail = _get(api_server, f"/autotest/api/models/{child.model_id}", token).json()
    assert [s["model"]["model_id"] for s in detail["ancestry"]][-2:] == [child.parent_id, child.model_id]
    page = _get(api_server, f"/autotest/models/{child.model_id}", token)
    assert page.status_code == 200 and child.parent_id in page.text


# -- the browser ---------------------------------------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def _ensure_chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver, installed with apt-get when missing (CI runs as root on a clean machine)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.geteuid() != 0:
        pytest.fail("chromium and chromedriver are missing: run `apt-get update && apt-get install -y chromium chromium-driver` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, "apt-get installed chromium but chromium/chromedriver are not on PATH"
    return browser, driver


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium with a fresh profile; chromedriver (and the browser it started) stopped afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = _ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="autotest-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        service = Service(chromedriver, popen_kw={"start_new_session": True})
        driver = webdriver.Chrome(options=options, service=service)
        try:
            yield driver
        finally:
            pgid = os.getpgid(service.process.pid) if service.process and service.process.poll() is None else None
            driver.quit()
            if pgid is not None:  # a browser child that outlived quit()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, 9)


def test_a_logged_in_user_sees_the_leaderboard_and_lineage_tree_in_the_airflow_ui(
    api_server, lineage_db: str, latest_week: dt.date, browser
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from autotest_lib.registry import LineageStore

    started = time.monotonic()
    wait = WebDriverWait(browser, 60)
    browser.get(f"{api_server.url}/")
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(api_server.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)

    # the navigation entry the plugin's external view adds, then the page inside Airflow's frame
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "a[href$='plugin/autotest']"))).click()
    wait.until(lambda d: d.current_url.endswith("/plugin/autotest"))
    frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src$='/autotest/']")))
    browser.switch_to.frame(frame)

    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#leaderboard tr.leaderboard-row"))
    shown = [r.get_attribute("data-model-id") for r in rows]
    with LineageStore(lineage_db) as store:
        board = store.leaderboard(latest_week)
        n_models = len(store.list_models())
    assert shown[0] == board[0].model_id and set(shown) <= {r.model_id for r in board}
    assert browser.find_element(By.CSS_SELECTOR, "#week-header h1").text == f"Week {latest_week.isoformat()}"

    tree = browser.find_element(By.ID, "lineage-tree")
    wait.until(lambda d: tree.get_attribute("data-ready") == "true")
    points = tree.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace .points path.point")
    assert len(points) == n_models, "one marker per model in the lineage tree"
    legend = {e.text for e in tree.find_elements(By.CSS_SELECTOR, ".legend .legendtext")}
    assert {"continuation", "exploit", "explorer", "pbt"} <= legend
    assert browser.find_element(By.ID, "track-record-empty").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#pbt .pbt-chart .main-svg")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tree.screenshot(str(ARTIFACTS / "autotest_lineage_tree.png"))
    browser.switch_to.default_content()
    assert browser.save_screenshot(str(ARTIFACTS / "autotest_page.png"))
    print(f"browser part: {time.monotonic() - started:.1f} s; screenshots in {ARTIFACTS}")
    assert (ARTIFACTS / "autotest_page.png").stat().st_size > 10_000
