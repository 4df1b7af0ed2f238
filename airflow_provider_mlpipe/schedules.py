"""v1's `Schedule`: submit an already published pipeline on a recurrence or on new data, made from a
notebook without editing a DAG file.

    schedule = Schedule.create(ws, name="nightly", pipeline_id="my_published_pipeline",
                               experiment_name="nightly", recurrence=ScheduleRecurrence("Day", 1, hours=[2]))
    schedule.disable()

The schedule is a row of the deployment's metadata DB (`schedules_db`); the provider's DAG source
(`schedule_dags`, the DAG file `dags/mlpipe_schedules.py`) turns it into the DAG
``mlpipe_schedule__<id>``, which Airflow's scheduler fires. A remote workspace goes through
`/mlpipe/schedules` (creating or changing one needs edit rights on the pipeline's DAG); the
embedded local one writes its own metadata DB.

A recurrence without ``start_time`` counts from the schedule's creation, as in v1:
``ScheduleRecurrence(frequency="Day", interval=2, hours=[22], minutes=[30])`` runs at 22:30 UTC
every second day from the day it was created.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.exceptions import ApiError
from airflow_provider_mlpipe.runs import Experiment, PipelineRun
from airflow_provider_mlpipe.submission import split_pipeline_parameters

if TYPE_CHECKING:
    from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence
    from airflow_provider_mlpipe.workspace import Workspace

#: How often `wait_for_provisioning` looks for the schedule's DAG, in seconds.
PROVISIONING_POLL_SECONDS = 2.0


class Schedule:
    """A schedule of a published pipeline or pipeline endpoint (v1's `Schedule`); made by `create`."""

    def __init__(
        self,
        workspace: Workspace,
        id: str,  # noqa: A002
        name: str,
        description: str | None,
        pipeline_id: str | None,
        status: str,
        recurrence: ScheduleRecurrence | None,
        datastore_name: str | None,
        polling_interval: float | None,
        data_path_parameter_name: str | None,
        continue_on_step_failure: bool | None,
        path_on_datastore: str | None,
        _schedule_provider: Any = None,
        pipeline_endpoint_id: str | None = None,
    ) -> None:
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._pipeline_id = pipeline_id
        self._status = status
        self._recurrence = recurrence
        self._datastore_name = datastore_name
        self._polling_interval = polling_interval
        self._data_path_parameter_name = data_path_parameter_name
        self._continue_on_step_failure = continue_on_step_failure
        self._path_on_datastore = path_on_datastore
        self._pipeline_endpoint_id = pipeline_endpoint_id
        self._record: dict[str, Any] = {}

    # -- v1's properties -----------------------------------------------------------------------

    id = property(lambda self: self._id, doc="The schedule's id.")
    name = property(lambda self: self._name, doc="The schedule's name.")
    description = property(lambda self: self._description, doc="Its description (each run's description).")
    pipeline_id = property(
        lambda self: self._pipeline_id, doc="The published pipeline it submits (a DAG id)."
    )
    pipeline_endpoint_id = property(lambda self: self._pipeline_endpoint_id, doc="The endpoint it submits.")
    status = property(lambda self: self._status, doc="'Active' or 'Disabled'.")
    recurrence = property(
        lambda self: self._recurrence, doc="Its `ScheduleRecurrence`, None for a datastore one."
    )
    datastore_name = property(lambda self: self._datastore_name, doc="The datastore it watches.")
    polling_interval = property(lambda self: self._polling_interval, doc="Minutes between two looks.")
    data_path_parameter_name = property(
        lambda self: self._data_path_parameter_name, doc="The DataPath parameter set to each new file."
    )
    continue_on_step_failure = property(
        lambda self: self._continue_on_step_failure, doc="Overrides the pipeline's setting when not None."
    )
    path_on_datastore = property(lambda self: self._path_on_datastore, doc="The path it watches; None: all.")

    @property
    def dag_id(self) -> str:
        """The Airflow DAG that fires this schedule."""
        from airflow_provider_mlpipe.contract import SCHEDULE_DAG_PREFIX

        return f"{SCHEDULE_DAG_PREFIX}{self._id}"

    # -- made here or found ----------------------------------------------------------------------

    @classmethod
    def _of_record(cls, workspace: Workspace, record: dict[str, Any]) -> Schedule:
        schedule = cls(
            workspace, record["Id"], record["Name"], None, None, "Active", None, None, None, None, None, None
        )
        schedule._update(record)
        return schedule

    def _update(self, record: dict[str, Any]) -> None:
        from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence

        self._record = record
        self._name = record["Name"]
        self._description = record.get("Description")
        self._pipeline_id = record.get("PipelineId")
        self._pipeline_endpoint_id = record.get("PipelineEndpointId")
        self._status = record["Status"]
        fields = record.get("Recurrence")
        self._recurrence = ScheduleRecurrence(**fields) if fields else None
        self._datastore_name = record.get("DataStoreName")
        self._polling_interval = record.get("PollingInterval")
        self._data_path_parameter_name = record.get("DataPathParameterName")
        self._continue_on_step_failure = record.get("ContinueOnStepFailure")
        self._path_on_datastore = record.get("PathOnDatastore")

    @staticmethod
    def create(
        workspace: Workspace,
        name: str,
        pipeline_id: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: float = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> Schedule:
        """A schedule submitting published pipeline `pipeline_id` (its DAG id) in `experiment_name`.

        Give `recurrence` for a time schedule, or `datastore` (a `Datastore` or its name) for one
        run per change under `path_on_datastore` (None: the whole datastore), looked for every
        `polling_interval` minutes; `data_path_parameter_name` names the DataPath parameter set to
        the changed file. `pipeline_parameters` are the runs' parameters (a `DataPath` value for a
        DataPath parameter). `wait_for_provisioning` waits until Airflow has the schedule's DAG.
        """
        body = _create_body(
            name,
            experiment_name,
            recurrence,
            description,
            pipeline_parameters,
            datastore,
            polling_interval,
            data_path_parameter_name,
            continue_on_step_failure,
            path_on_datastore,
        )
        body["pipeline_id"] = pipeline_id
        return Schedule._create(workspace, body, wait_for_provisioning, wait_timeout)

    @staticmethod
    def create_for_pipeline_endpoint(
        workspace: Workspace,
        name: str,
        pipeline_endpoint_id: str,
        experiment_name: str,
        recurrence: ScheduleRecurrence | None = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: float = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> Schedule:
        """As `create`, for a pipeline endpoint: each run submits the endpoint's default version as it
        is when the schedule's DAG was last parsed (a change of the default is followed within seconds)."""
        body = _create_body(
            name,
            experiment_name,
            recurrence,
            description,
            pipeline_parameters,
            datastore,
            polling_interval,
            data_path_parameter_name,
            continue_on_step_failure,
            path_on_datastore,
        )
        body["pipeline_endpoint_id"] = getattr(pipeline_endpoint_id, "id", pipeline_endpoint_id)
        return Schedule._create(workspace, body, wait_for_provisioning, wait_timeout)

    @staticmethod
    def _create(workspace: Workspace, body: dict[str, Any], wait: bool, wait_timeout: float) -> Schedule:
        if workspace.is_local:
            record = _local(lambda db: db.create(body, user=_local_user()))
        else:
            record = workspace.request("POST", "/mlpipe/schedules", json=body).json()
        schedule = Schedule._of_record(workspace, record)
        if wait:
            schedule._wait_for_provisioning(wait_timeout)
        return schedule

    @staticmethod
    def get(
        workspace: Workspace, id: str, _workflow_provider: Any = None, _service_endpoint: str | None = None
    ) -> Schedule:  # noqa: A002
        """The schedule `id`; `ApiError` 404 when there is none."""
        if not id or not isinstance(id, str):
            raise ValueError("Schedule.get: give the schedule's id")
        if workspace.is_local:
            record = _local(lambda db: db.get(id))
        else:
            record = workspace.request("GET", f"/mlpipe/schedules/{id}").json()
        return Schedule._of_record(workspace, record)

    @staticmethod
    def list(
        workspace: Workspace,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> list[Schedule]:
        """The schedules of `workspace`: of `pipeline_id` (or `pipeline_endpoint_id`) all of them, as in
        v1; otherwise the Active ones, or all with `active_only=False`."""
        if workspace.is_local:
            records = _local(lambda db: db.list_records(active_only, pipeline_id, pipeline_endpoint_id))
        else:
            params: dict[str, Any] = {"active_only": active_only}
            if pipeline_id is not None:
                params["pipeline_id"] = pipeline_id
            if pipeline_endpoint_id is not None:
                params["pipeline_endpoint_id"] = pipeline_endpoint_id
            records = workspace.request("GET", "/mlpipe/schedules", params=params).json()["Schedules"]
        return [Schedule._of_record(workspace, record) for record in records]

    @staticmethod
    def get_all(
        workspace: Workspace,
        active_only: bool = True,
        pipeline_id: str | None = None,
        pipeline_endpoint_id: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> list[Schedule]:
        """v1's older name of `list` (deprecated there too)."""
        warnings.warn(
            "Schedule.get_all(workspace) is deprecated, as in v1: use Schedule.list(workspace)",
            DeprecationWarning,
            stacklevel=2,
        )
        return Schedule.list(workspace, active_only, pipeline_id, pipeline_endpoint_id)

    @staticmethod
    def get_schedules_for_pipeline_id(
        workspace: Workspace,
        pipeline_id: str,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> list[Schedule]:
        """Every schedule (Active or not) of published pipeline `pipeline_id`."""
        return Schedule.list(workspace, pipeline_id=pipeline_id)

    @staticmethod
    def get_schedules_for_pipeline_endpoint_id(
        workspace: Workspace,
        pipeline_endpoint_id: str,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> list[Schedule]:
        """Every schedule (Active or not) of pipeline endpoint `pipeline_endpoint_id`."""
        return Schedule.list(workspace, pipeline_endpoint_id=pipeline_endpoint_id)

    @staticmethod
    def load_yaml(
        workspace: Workspace,
        filename: str,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> dict[str, Any]:
        """v1's schedule YAML (a ``Schedule:`` section) as `create`'s arguments: ``recurrence`` becomes a
        `ScheduleRecurrence`, ``datastore_name`` a `Datastore`; the other keys are returned as they are."""
        import yaml

        from airflow_provider_mlpipe.authoring.datastore import Datastore
        from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence

        with open(filename) as handle:
            document = yaml.safe_load(handle)
        if not isinstance(document, dict) or not isinstance(document.get("Schedule"), dict):
            raise ValueError(f"{filename}: a schedule YAML file must have a 'Schedule:' section")
        section = document["Schedule"]
        found: dict[str, Any] = {}
        for key in YAML_KEYS:
            if key not in section:
                continue
            value = section[key]
            if key == "datastore_name" and value is not None:
                value = Datastore(workspace, value)
            elif key == "recurrence" and value is not None:
                fields = {name: value.get(name) for name in YAML_RECURRENCE_KEYS}
                start = fields.get("start_time")
                if start is not None and not isinstance(start, str):
                    fields["start_time"] = start.replace(tzinfo=None) if hasattr(start, "replace") else start
                value = ScheduleRecurrence(**fields)
            found[key] = value
        return found

    # -- changes -----------------------------------------------------------------------------

    def update(
        self,
        name: str | None = None,
        description: str | None = None,
        recurrence: ScheduleRecurrence | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        status: str | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: float | None = None,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
    ) -> None:
        """Change what is given (None leaves a field as it is), as v1's `update`.

        A new recurrence without ``start_time`` counts from now; the schedule's DAG follows at
        Airflow's next parse of the DAG file; `status` "Disabled" pauses it at once.
        """
        if recurrence is not None:
            recurrence.validate()
        if status is not None and status not in ("Active", "Disabled"):
            raise ValueError(f"Schedule.update: status must be 'Active' or 'Disabled', got {status!r}")
        body: dict[str, Any] = {
            "name": name,
            "description": description,
            "recurrence": None if recurrence is None else _recurrence_fields(recurrence),
            "status": status,
            "datastore": None if datastore is None else _datastore_name(datastore),
            "polling_interval": polling_interval,
            "data_path_parameter_name": data_path_parameter_name,
            "continue_on_step_failure": continue_on_step_failure,
            "path_on_datastore": path_on_datastore,
        }
        if pipeline_parameters is not None:
            body["parameter_assignments"], body["data_path_assignments"] = split_pipeline_parameters(
                pipeline_parameters
            )
        body = {key: value for key, value in body.items() if value is not None}
        self._change(body)
        if wait_for_provisioning:
            self._wait_for_provisioning(wait_timeout)

    def _change(self, body: dict[str, Any]) -> None:
        if self._workspace.is_local:
            record = _local(lambda db: db.update_schedule(self._id, body))
        else:
            record = self._workspace.request("POST", f"/mlpipe/schedules/{self._id}/update", json=body).json()
        self._update(record)

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Make the schedule Active: its DAG is unpaused and submits again."""
        self._change({"status": "Active"})
        if wait_for_provisioning:
            self._wait_for_provisioning(wait_timeout)

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Make the schedule Disabled: its DAG is paused at once and submits nothing more."""
        self._change({"status": "Disabled"})
        if wait_for_provisioning:
            self._wait_for_provisioning(wait_timeout)

    def _wait_for_provisioning(self, timeout_seconds: float) -> str:
        """Wait until Airflow has parsed the schedule's DAG (v1's provisioning); "Completed" or, after
        `timeout_seconds`, "Provisioning" (printed, as v1 does, not raised)."""
        if self._workspace.is_local:
            self._provision_locally()
        deadline = time.monotonic() + timeout_seconds
        while True:
            if self._dag_known():
                return "Completed"
            if time.monotonic() + PROVISIONING_POLL_SECONDS > deadline:
                print(
                    f"Timed out of waiting, status:Provisioning (no DAG {self.dag_id} in Airflow yet).",
                    flush=True,
                )
                return "Provisioning"
            time.sleep(PROVISIONING_POLL_SECONDS)

    def _provision_locally(self) -> None:
        """The embedded local Airflow may have no dag-processor running: write the schedule's DAG
        (built from the snapshot as `dags/mlpipe_schedules.py` builds it) to its metadata DB now."""
        from airflow_provider_mlpipe.local_submit import _register_dag
        from airflow_provider_mlpipe.schedule_dags import read_snapshot, schedule_dags

        dag = schedule_dags(read_snapshot()).get(self.dag_id)
        if dag is not None:
            _register_dag(dag)

    def _dag_known(self) -> bool:
        if self._workspace.is_local:
            from airflow.models.dag import DagModel
            from airflow.utils.session import create_session

            with create_session() as session:
                return session.get(DagModel, self.dag_id) is not None
        try:
            self._workspace.request("GET", f"/api/v2/dags/{self.dag_id}")
        except ApiError as error:
            if error.status_code == 404:
                return False
            raise
        return True

    # -- runs ------------------------------------------------------------------------------------

    def get_pipeline_runs(self) -> list[PipelineRun]:
        """The pipeline runs this schedule submitted, newest first."""
        return [self._run(record) for record in self._runs(limit=100)]

    def get_last_pipeline_run(self) -> PipelineRun | None:
        """The latest pipeline run this schedule submitted; None before its first."""
        found = self._runs(limit=1)
        return self._run(found[0]) if found else None

    def _runs(self, limit: int) -> list[dict[str, Any]]:
        if self._workspace.is_local:
            from airflow.utils.session import create_session

            from airflow_provider_mlpipe import schedules_db

            with create_session() as session:
                return schedules_db.runs(session, self._id, limit)
        answer = self._workspace.request("GET", f"/mlpipe/schedules/{self._id}/runs", params={"limit": limit})
        return answer.json()["Runs"]

    def _run(self, record: dict[str, Any]) -> PipelineRun:
        experiment = Experiment(self._workspace, record.get("ExperimentName") or "default")
        return PipelineRun(experiment, record["Id"], pipeline_id=record.get("PipelineId"))

    def __repr__(self) -> str:
        target = (
            f"pipeline={self._pipeline_id!r}"
            if self._pipeline_id
            else f"pipeline_endpoint={self._pipeline_endpoint_id!r}"
        )
        if self._recurrence is not None:
            what = f"{self._recurrence!r}"
        else:
            what = f"datastore={self._datastore_name!r}, path_on_datastore={self._path_on_datastore!r}"
        return f"Schedule(name={self._name!r}, id={self._id!r}, status={self._status!r}, {target}, {what})"


#: v1's keys of a schedule YAML file and of its recurrence section.
YAML_KEYS = (
    "description",
    "pipeline_parameters",
    "wait_for_provisioning",
    "wait_timeout",
    "datastore_name",
    "polling_interval",
    "data_path_parameter_name",
    "continue_on_step_failure",
    "path_on_datastore",
    "recurrence",
)
YAML_RECURRENCE_KEYS = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "time_of_day",
    "week_days",
)


def _create_body(
    name: Any,
    experiment_name: Any,
    recurrence: Any,
    description: Any,
    pipeline_parameters: Any,
    datastore: Any,
    polling_interval: Any,
    data_path_parameter_name: Any,
    continue_on_step_failure: Any,
    path_on_datastore: Any,
) -> dict[str, Any]:
    """`create`'s arguments as the REST body (v1's rules first, with v1's messages' meaning)."""
    if recurrence is not None:
        if datastore is not None:
            raise ValueError("Schedule.create: give a recurrence or a datastore, not both")
        if data_path_parameter_name is not None:
            raise ValueError("Schedule.create: data_path_parameter_name is only for datastore schedules")
        if path_on_datastore is not None:
            raise ValueError("Schedule.create: path_on_datastore is only for datastore schedules")
        recurrence.validate()
    elif datastore is None:
        raise ValueError("Schedule.create: give a recurrence (a time schedule) or a datastore")
    body: dict[str, Any] = {
        "name": name,
        "experiment_name": experiment_name,
        "description": description,
        "continue_on_step_failure": continue_on_step_failure,
    }
    if recurrence is not None:
        body["recurrence"] = _recurrence_fields(recurrence)
    else:
        body.update(
            datastore=_datastore_name(datastore),
            path_on_datastore=path_on_datastore,
            polling_interval=polling_interval,
            data_path_parameter_name=data_path_parameter_name,
        )
    body["parameter_assignments"], body["data_path_assignments"] = split_pipeline_parameters(
        pipeline_parameters
    )
    return {key: value for key, value in body.items() if value is not None}


def _recurrence_fields(recurrence: Any) -> dict[str, Any]:
    """A `ScheduleRecurrence` as its v1 fields in JSON (a time zone by name, a start time as ISO text)."""
    from datetime import datetime

    from airflow_provider_mlpipe.schedules_db import RECURRENCE_FIELDS

    fields = {name: getattr(recurrence, name) for name in RECURRENCE_FIELDS}
    if isinstance(fields["start_time"], datetime):
        fields["start_time"] = fields["start_time"].isoformat()
    zone = fields["time_zone"]
    fields["time_zone"] = zone.value if isinstance(getattr(zone, "value", None), str) else zone
    for name in ("hours", "minutes", "week_days"):
        if fields[name] is not None:
            fields[name] = list(fields[name])
    return fields


def _datastore_name(datastore: Any) -> Any:
    return datastore if isinstance(datastore, str) else getattr(datastore, "name", datastore)


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def _local(action: Any) -> Any:
    """Run `action(schedules_db)` on the embedded local Airflow's DB; its errors as `ApiError`s."""
    from airflow_provider_mlpipe import schedules_db
    from airflow_provider_mlpipe.local_submit import ensure_airflow_db, register_published_here

    ensure_airflow_db()
    register_published_here()  # what this notebook published, for a schedule of it
    try:
        return action(schedules_db)
    except schedules_db.ScheduleError as error:
        raise ApiError(str(error), error.status_code, str(error)) from None
