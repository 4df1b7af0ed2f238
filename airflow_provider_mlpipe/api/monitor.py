"""The monitoring page of the Airflow UI ("ML pipelines"): pipelines, their runs, steps, metrics and images.

`/mlpipe/monitor/` is a static page (no build step) that Airflow's UI shows in an iframe as an
external view; it reads `/mlpipe/monitor/api/...` with `fetch`. The browser sends Airflow's own
session cookie (`_token`, set at login) with those same-origin calls, and Airflow's `GetUserDep`
reads it exactly as for the UI's own calls, so no token is handled by the page: no cookie is 401,
and the auth manager decides which pipelines, runs, task instances and XComs a user sees.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from airflow_provider_mlpipe.api.dags import GetUserDep, dag_allowed, tagged_dags
from airflow_provider_mlpipe.api.guards import DagIdPath, RunIdPath
from airflow_provider_mlpipe.api.steps import StepRecord, step_records
from airflow_provider_mlpipe.contract import PIPELINE_TAG, PUBLISHED_TAG, RUN_RECORD_KEY, VERSION_TAG_PREFIX

#: The page, its script, style sheet and icon (package data).
STATIC_DIR = Path(__file__).with_name("static")
#: Where the plugin mounts the app and where the page lives in it.
MOUNT_PREFIX = "/mlpipe"
PAGE_PATH = "/monitor/"
MAX_RUNS = 100


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start is not None and end is not None else None


def _allowed(user: Any, dag_id: str, entity: str | None) -> bool:
    """Whether the auth manager lets `user` read `entity` (a DagAccessEntity name) of `dag_id`."""
    return dag_allowed(user, dag_id, "GET", entity)


def _pipelines(session: Any, dag_id: str | None = None) -> list[Any]:
    """DAGs made from pipelines (tagged "mlpipe"), not stale; or the one called `dag_id`."""
    return tagged_dags(session, PIPELINE_TAG, dag_id)


def _pipeline_json(model: Any, latest: Any | None) -> dict[str, Any]:
    tags = sorted(tag.name for tag in model.tags or [])
    version = next((t[len(VERSION_TAG_PREFIX) :] for t in tags if t.startswith(VERSION_TAG_PREFIX)), None)
    return {
        "dag_id": model.dag_id,
        "description": model.description,
        "tags": tags,
        "published": PUBLISHED_TAG in tags,
        "version": version,
        "is_paused": bool(model.is_paused),
        "latest_run": None if latest is None else _run_head(latest),
    }


def _run_head(run: Any) -> dict[str, Any]:
    conf = run.conf or {}
    record = conf.get(RUN_RECORD_KEY) or {}
    return {
        "run_id": run.run_id,
        "state": None if run.state is None else str(getattr(run.state, "value", run.state)),
        "run_type": str(getattr(run.run_type, "value", run.run_type)),
        "run_after": _iso(getattr(run, "run_after", None)),
        "start_date": _iso(run.start_date),
        "end_date": _iso(run.end_date),
        "duration": _seconds(run.start_date, run.end_date),
        "params": {k: v for k, v in conf.items() if k != RUN_RECORD_KEY},
        "experiment_name": record.get("experiment_name") if isinstance(record, dict) else None,
    }


def _outputs_json(outputs: dict[str, Any]) -> dict[str, Any]:
    """Output records (`return_value`) with where the data is; anything else a task returned is left out."""
    shown = {}
    for name, record in outputs.items():
        if isinstance(record, dict) and ("uri" in record or "path_on_datastore" in record):
            shown[name] = {
                "uri": record.get("uri"),
                "datastore": record.get("datastore"),
                "path_on_datastore": record.get("path_on_datastore"),
            }
    return shown


def _reuse_json(reuse: dict[str, Any]) -> dict[str, Any] | None:
    if not reuse:
        return None
    return {
        "decision": reuse.get("decision"),
        "reason": reuse.get("reason"),
        "source": reuse.get("source") if reuse.get("decision") == "hit" else None,
    }


def _images_json(run_context: dict[str, Any]) -> list[dict[str, Any]]:
    """The images a step's script logged (`Run.log_image`): metric name, description, file beside
    the metrics (the page fetches it from `.../steps/{task_id}/images/{path}`)."""
    return [
        {"name": image.get("name"), "description": image.get("description") or "", "path": image["path"]}
        for image in run_context.get("images") or []
        if isinstance(image, dict) and isinstance(image.get("path"), str)
    ]


#: Media types of the image files `Run.log_image` accepts, by suffix.
IMAGE_MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
}


def _step_json(step: StepRecord, show_xcoms: bool) -> dict[str, Any]:
    return {
        "task_id": step.task_id,
        "name": step.name or step.task_id,
        "state": step.state,
        "start_date": _iso(step.start_date),
        "end_date": _iso(step.end_date),
        "duration": _seconds(step.start_date, step.end_date),
        "try_number": step.try_number,
        "reuse": _reuse_json(step.reuse) if show_xcoms else None,
        "outputs": _outputs_json(step.outputs) if show_xcoms else None,
        "metrics": step.metrics if show_xcoms else None,
        "images": _images_json(step.run_context) if show_xcoms else None,
    }


def monitor_router() -> APIRouter:
    """The JSON endpoints under `/monitor/api`; every one needs an Airflow user (401 without)."""
    router = APIRouter()

    @router.get("/pipelines")
    def list_pipelines(user: GetUserDep) -> dict[str, Any]:
        """Pipelines the user may read, each with its latest run."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import func, select

        # Ask the auth manager first: it may use (and close) the same scoped DB session.
        permitted = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        with create_session() as session:
            models = [m for m in _pipelines(session) if m.dag_id in permitted]
            runs_visible = [m.dag_id for m in models if _allowed(user, m.dag_id, "RUN")]
            latest_ids = (
                select(func.max(DagRun.id)).where(DagRun.dag_id.in_(runs_visible)).group_by(DagRun.dag_id)
            )
            latest = {r.dag_id: r for r in session.scalars(select(DagRun).where(DagRun.id.in_(latest_ids)))}
            return {"pipelines": [_pipeline_json(m, latest.get(m.dag_id)) for m in models]}

    @router.get("/pipelines/{dag_id}/runs")
    def list_runs(
        dag_id: DagIdPath, user: GetUserDep, limit: int = Query(20, ge=1, le=MAX_RUNS)
    ) -> dict[str, Any]:
        """The pipeline's latest runs, newest first, each with its steps (what the user may read of them)."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        if not _allowed(user, dag_id, "RUN"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to read the runs of {dag_id!r}")
        show_steps = _allowed(user, dag_id, "TASK_INSTANCE")
        show_xcoms = show_steps and _allowed(user, dag_id, "XCOM")
        with create_session() as session:
            found = _pipelines(session, dag_id)
            if not found:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {dag_id!r}")
            runs = list(
                session.scalars(
                    select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(limit)
                )
            )
            steps = (
                step_records(session, dag_id, [r.run_id for r in runs], with_xcoms=show_xcoms)
                if show_steps
                else {}
            )
            hidden = [name for name, shown in (("steps", show_steps), ("xcoms", show_xcoms)) if not shown]

            def run_json(run: Any) -> dict[str, Any]:
                shown = [_step_json(s, show_xcoms) for s in steps[run.run_id]] if show_steps else None
                return {**_run_head(run), "steps": shown}

            return {
                "pipeline": _pipeline_json(found[0], runs[0] if runs else None),
                "hidden": hidden,
                "runs": [run_json(run) for run in runs],
            }

    @router.get("/pipelines/{dag_id}/runs/{run_id}/steps/{task_id}/images/{path:path}")
    def step_image(
        dag_id: DagIdPath, run_id: RunIdPath, task_id: str, path: str, user: GetUserDep
    ) -> Response:
        """One image a step's script logged, read from the datastore it was stored on."""
        from airflow.utils.session import create_session

        if not (_allowed(user, dag_id, "TASK_INSTANCE") and _allowed(user, dag_id, "XCOM")):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to read the steps of {dag_id!r}")
        with create_session() as session:
            if not _pipelines(session, dag_id):
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {dag_id!r}")
            steps = step_records(session, dag_id, [run_id]).get(run_id, [])
        context = next((s.run_context for s in steps if s.task_id == task_id), None)
        if context is None or path not in [image["path"] for image in _images_json(context)]:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"step {task_id!r} of run {run_id!r} logged no image {path!r}"
            )
        media_type = IMAGE_MEDIA_TYPES.get(Path(path).suffix.lower())
        if media_type is None or not context.get("datastore") or not context.get("folder"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"image {path!r} was not stored")
        from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

        try:
            data = resolve_datastore(context["datastore"]).read_bytes(f"{context['folder']}/{path}")
        except Exception as error:  # noqa: BLE001 - any storage failure is the same answer to the page
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"image {path!r}: {error}") from None
        if data is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"image {path!r} is not on {context['datastore']!r}"
            )
        # An SVG may hold scripts: served as a download-safe image that runs none.
        headers = {"Cache-Control": "private, max-age=3600", "Content-Security-Policy": "script-src 'none'"}
        return Response(data, media_type=media_type, headers=headers)

    return router


def add_monitor(app: FastAPI) -> None:
    """Add the page (`/monitor/`), its static files and its JSON API (`/monitor/api`) to `app`."""

    @app.get("/monitor", include_in_schema=False)
    def to_page(request: Request) -> RedirectResponse:
        # The page's links and fetches are relative: it must be served from the folder URL.
        return RedirectResponse(request.url.replace(path=request.url.path + "/"))

    @app.get("/monitor/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "monitor.html", headers={"Cache-Control": "no-cache"})

    app.include_router(monitor_router(), prefix="/monitor/api", tags=["monitoring"])
    app.mount("/monitor/static", StaticFiles(directory=STATIC_DIR), name="mlpipe-monitor-static")


def external_view() -> dict[str, Any]:
    """The Airflow 3 UI navigation entry that shows the page (in an iframe, below the UI's own header).

    `href` and `icon` are relative, so they resolve against the UI's `<base href>` (the
    api-server's base URL) and work behind a path prefix too.
    """
    return {
        "name": "ML pipelines",
        "href": MOUNT_PREFIX.lstrip("/") + PAGE_PATH,
        "icon": MOUNT_PREFIX.lstrip("/") + "/monitor/static/icon.svg",
        "url_route": "ml-pipelines",
        "destination": "nav",
    }
