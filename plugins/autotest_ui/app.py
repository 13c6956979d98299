"""The AUTOTEST page as a FastAPI app the Airflow api-server mounts under ``/autotest`` (see autotest_plugin.py).

Every route, the static files included, depends on Airflow's own authentication: a request without a valid
Airflow session cookie or bearer token gets 401/403 from Airflow's ``get_user`` before any data is read.
HTML pages and the JSON under ``/api`` come from the same functions in :mod:`autotest_ui.views`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from autotest_lib.report.lineage import EDGE_KINDS
from autotest_ui import views

__all__ = ["EMPTY_HINT", "StoreProvider", "create_app", "require_login"]

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

EMPTY_HINT = (
    "No week has been recorded in the lineage database yet. Run one: trigger the autotest_weekly DAG "
    '(DAGs > autotest_weekly > Trigger, preset "demo" for a quick one), or from a shell '
    '`airflow dags test autotest_weekly 2024-09-08 -c \'{"preset": "demo"}\'`; its first task creates the tables.'
)


def _login_dependency() -> Callable[..., None]:
    """Airflow's check that the caller may see the UI (any logged-in user with website access)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view

    return requires_access_view(AccessView.WEBSITE)


require_login = _login_dependency()
"""The dependency every route of the app carries (tests may override it to reach the app without a server)."""


class StoreProvider:
    """Opens the :class:`LineageStore` on first use and keeps it; a database without tables yields None (empty state).

    :param url: lineage database URL; None resolves it as the DAGs do (``AUTOTEST_DB_URL``, the Airflow
        connection ``autotest_lineage``, else the embedded SQLite file).
    """

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._store: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The store, or None while the database is missing or not migrated yet (checked again next call)."""
        from autotest_lib.registry import LineageStore, SchemaError, mask_url, resolve_db_url

        with self._lock:
            if self._store is None:
                url = resolve_db_url(self._url)
                try:
                    self._store = LineageStore(url)
                except SchemaError as exc:
                    log.info("lineage database %s has no current schema yet: %s", mask_url(url), exc)
                    return None
                except Exception as exc:
                    raise HTTPException(
                        503,
                        f"the lineage database {mask_url(url)} cannot be read ({type(exc).__name__}); check AUTOTEST_DB_URL "
                        "or the autotest_lineage connection and that the server is up",
                    ) from None
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@cache
def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters["num"] = lambda v, fmt=".3f": "–" if v is None else format(v, fmt)
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}%"
    return env


def _not_found(what: str, ident: str) -> HTTPException:
    return HTTPException(404, f"unknown {what} {ident!r}: no such {what} in the lineage database")


def _week_or_404(store: Any, week: str) -> dict[str, Any]:
    day = views.parse_week(week)
    summary = views.week_summary(store, day) if store is not None and day is not None else None
    if summary is None:
        raise _not_found("week", week)
    return summary


def _model_or_404(store: Any, model_id: str) -> dict[str, Any]:
    detail = views.model_detail(store, model_id) if store is not None else None
    if detail is None:
        raise _not_found("model", model_id)
    return detail


def create_app(db_url: str | None = None) -> FastAPI:
    """The AUTOTEST app: pages at ``/``, ``/weeks/{week}``, ``/models/{model_id}``, the same data as JSON under ``/api``.

    :param db_url: lineage database URL; None resolves it like the DAGs do.
    """
    provider = StoreProvider(db_url)
    app = FastAPI(title="AUTOTEST", dependencies=[Depends(require_login)], docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store_provider = provider

    @app.exception_handler(HTTPException)
    async def _errors(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api") or exc.status_code in (401, 403):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        html = (
            _templates()
            .get_template("error.html")
            .render(base=request.scope.get("root_path", ""), status=exc.status_code, detail=exc.detail)
        )
        return HTMLResponse(html, status_code=exc.status_code)

    def render(request: Request, template: str, **context: Any) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        return HTMLResponse(_templates().get_template(template).render(base=base, **context))

    def page_data(store: Any, week: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "lineage": views.lineage_graph(store),
            "champions": views.champions(store),
            "pbt": views.pbt_trajectories(store),
            "track_record": views.track_record(store),
            "week": week,
        }

    def week_page(request: Request, store: Any, summary: dict[str, Any] | None) -> HTMLResponse:
        if store is None or summary is None:
            return render(request, "empty.html", hint=EMPTY_HINT)
        data = page_data(store, summary)
        return render(request, "week.html", summary=summary, weeks=views.weeks(store), data=data, data_json=_script_json(data))

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        store = provider.get()
        latest = views.weeks(store) if store is not None else []
        with_board = store.latest_evaluated_week() if store is not None else None
        day = with_board or (dt.date.fromisoformat(latest[0]["week"]) if latest else None)
        return week_page(request, store, views.week_summary(store, day) if day is not None else None)

    @app.get("/weeks/{week}", response_class=HTMLResponse)
    def week(request: Request, week: str) -> HTMLResponse:
        store = provider.get()
        return week_page(request, store, _week_or_404(store, week))

    @app.get("/models/{model_id}", response_class=HTMLResponse)
    def model(request: Request, model_id: str) -> HTMLResponse:
        detail = _model_or_404(provider.get(), model_id)
        return render(request, "model.html", detail=detail)

    @app.get("/api/weeks")
    def api_weeks() -> dict[str, Any]:
        store = provider.get()
        if store is None:
            return {"weeks": [], "empty": True, "hint": EMPTY_HINT}
        listed = views.weeks(store)
        return {"weeks": listed, "empty": not listed, "hint": EMPTY_HINT if not listed else None}

    @app.get("/api/weeks/{week}")
    def api_week(week: str) -> dict[str, Any]:
        return _week_or_404(provider.get(), week)

    @app.get("/api/models/{model_id}")
    def api_model(model_id: str) -> dict[str, Any]:
        return _model_or_404(provider.get(), model_id)

    def _all(name: str, read: Callable[[Any], Any], empty: Any) -> Callable[[], Any]:
        def endpoint() -> Any:
            store = provider.get()
            return {name: read(store) if store is not None else empty}

        endpoint.__name__ = f"api_{name}"
        return endpoint

    app.get("/api/lineage")(_all("lineage", views.lineage_graph, {"nodes": [], "edges": [], "kinds": list(EDGE_KINDS)}))
    app.get("/api/champions")(_all("champions", views.champions, {"history": [], "stints": []}))
    app.get("/api/pbt")(_all("pbt", views.pbt_trajectories, []))
    app.get("/api/track-record")(_all("track_record", views.track_record, {"available": False, "weeks": []}))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            return Response(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "private, max-age=86400"})
        path = HERE / "static" / name
        if name not in _STATIC or not path.is_file():
            raise _not_found("file", name)
        return Response(path.read_bytes(), media_type=_STATIC[name])

    return app


def _script_json(data: Any) -> str:
    """JSON safe to embed in a ``<script>`` element (no ``</script>`` or ``<!--`` can end it early)."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STATIC = {"autotest.js": "text/javascript", "autotest.css": "text/css", "icon.svg": "image/svg+xml"}


@cache
def _plotly_js() -> bytes:
    """plotly.js as bundled in the plotly Python package: the page draws offline, from this server only."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")
