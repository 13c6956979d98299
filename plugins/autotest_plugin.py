"""The AUTOTEST page in the Airflow UI: a FastAPI app served by the api-server and a top-level navigation entry.

Airflow loads every module in its plugins folder (``[core] plugins_folder``, ``$AIRFLOW_HOME/plugins`` by
default; the compose file mounts this folder there). The app is mounted at ``/autotest`` on the api-server;
the external view makes the UI show it inside its own frame at ``/plugin/autotest``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from autotest_ui.app import create_app

URL_PREFIX = "/autotest"


class AutotestPlugin(AirflowPlugin):
    """Leaderboard, champion history, lineage tree, forward track record and PBT trajectories of AUTOTEST."""

    name = "autotest"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "AUTOTEST"}]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "AUTOTEST",
            "href": f"{URL_PREFIX}/",
            "url_route": "autotest",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/static/icon.svg",
        }
    ]
