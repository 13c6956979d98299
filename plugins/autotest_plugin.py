"""The AUTOTEST page in the Airflow UI: a FastAPI app served by the api-server and a top-level navigation entry.

Airflow loads every module in its plugins folder (``[core] plugins_folder``, ``$AIRFLOW_HOME/plugins`` by
default; the image and ``scripts/airflow_env.sh`` point it at this folder). The app is mounted at
``/autotest`` on the api-server; the external view makes the UI show it inside its own frame at
``/plugin/autotest``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/autotest"


class _LazyApp:
    """An ASGI app that builds the AUTOTEST FastAPI app on its first request.

    Every Airflow process imports the plugins (each task runner does, for macros), but only the api-server
    serves them: building the app lazily keeps FastAPI and Airflow's API security modules out of the others.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        await self._app(scope, receive, send)


def _create_app() -> Any:
    from autotest_ui.app import create_app

    return create_app()


FASTAPI_APPS: list[dict[str, Any]] = [{"app": _LazyApp(_create_app), "url_prefix": URL_PREFIX, "name": "AUTOTEST"}]
EXTERNAL_VIEWS: list[dict[str, Any]] = [
    {
        "name": "AUTOTEST",
        "href": f"{URL_PREFIX}/",
        "url_route": "autotest",
        "destination": "nav",
        "nav_top_level": True,
        "icon": f"{URL_PREFIX}/static/icon.svg",
    }
]
"""A top-level navigation entry; with ``url_route`` the UI shows ``href`` inside its frame at /plugin/autotest."""


class AutotestPlugin(AirflowPlugin):
    """Leaderboard, champion history, lineage tree, forward track record and PBT trajectories of AUTOTEST."""

    name = "autotest"
    fastapi_apps = FASTAPI_APPS
    external_views = EXTERNAL_VIEWS
