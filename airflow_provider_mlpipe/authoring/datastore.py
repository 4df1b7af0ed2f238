"""`Datastore`: a named place for pipeline data, resolved from an Airflow connection at run time;
`DataReference`: existing data on one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.authoring.values import INPUT_MODES, check_mode, check_word_name
from airflow_provider_mlpipe.contract import CONNECTION_ID

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.datastore import DatastoreClient


class Datastore:
    """A datastore named by an Airflow connection id; nothing is looked up until it is used.

    `Datastore("name")` or, as in v1, `Datastore(workspace, "name")`. `Datastore.default()` (or
    no name) is the default datastore: `[mlpipe] default_datastore` when set, else the embedded
    local folder under `$AIRFLOW_HOME`, decided where the task runs. `.name` is always a name: for
    the default, the one it resolves to when `.name` is read (never while a DAG file is parsed);
    `given_name` is None for it.
    """

    def __init__(self, workspace: Any, name: str | None = None) -> None:
        if name is None and isinstance(workspace, str):
            workspace, name = None, workspace  # our short form: Datastore("name")
        if name is not None and (not isinstance(name, str) or not CONNECTION_ID.fullmatch(name)):
            raise ValueError(
                f"Datastore name {name!r} is not a valid Airflow connection id "
                "(letters, digits, '_', '.', '-')"
            )
        self.workspace = workspace
        self._name = name

    @property
    def name(self) -> str:
        """The connection id; for the default datastore, the one it resolves to now (see the class)."""
        if self._name is not None:
            return self._name
        if self.workspace is not None and getattr(self.workspace, "is_local", True) is False:
            return self.workspace.get_default_datastore().name  # the remote Airflow's default
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.default_datastore_name()

    @property
    def given_name(self) -> str | None:
        """The name given, None for the default datastore: what a DAG records (resolved at run time)."""
        return self._name

    @classmethod
    def default(cls) -> Datastore:
        """The default datastore, resolved at run time (see the class docstring)."""
        return cls(None)

    @staticmethod
    def get(workspace: Any, datastore_name: str) -> Datastore:
        """v1's `Datastore.get`: the datastore of that name (an Airflow connection id)."""
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Any) -> Datastore:
        """v1's `Datastore.get_default`: the default datastore (see the class docstring)."""
        return Datastore(workspace, None)

    @property
    def is_default(self) -> bool:
        return self._name is None

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        """v1's `Datastore.path`: a `DataReference` to `path` on this datastore (None: its root)."""
        return DataReference(self, data_reference_name, path)

    def as_mount(self) -> DataReference:
        """v1's `Datastore.as_mount`: a `DataReference` to this datastore's root, mounted."""
        return DataReference(self).as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        """v1's `Datastore.as_download`: a `DataReference` to this datastore's root, downloaded
        (to `path_on_compute` when given)."""
        return DataReference(self).as_download(path_on_compute)

    # Registering: v1 records a datastore in the workspace; here it is an Airflow connection.

    @staticmethod
    def register_azure_blob_container(
        workspace: Any,
        datastore_name: str,
        container_name: str,
        account_name: str,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        blob_cache_timeout: int | None = None,
        grant_workspace_access: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
    ) -> Datastore:
        """Create or update the Airflow connection `datastore_name` (type `mlpipe_blob`) of a Blob
        container, and return its Datastore.

        The connection is written to this machine's metadata DB when `workspace` is the embedded
        local Airflow (or None), through the remote Airflow's REST API (as its user) otherwise.
        `sas_token` (preferred when both are given) or `account_key` authenticates; neither: the
        identity of whoever uses the datastore (Azure's default credential). `protocol` and
        `endpoint` (a DNS suffix, default `https` and `core.windows.net`; an address such as
        Azurite's `127.0.0.1:10000`, or a whole account URL, also works) locate the account.
        An existing connection is replaced only with `overwrite=True` (else an error says so).
        `create_if_not_exists` creates the container from this machine; unless `skip_validation`,
        the credential must list the container from here before anything is written.

        Accepted without effect, as there is no Azure ML workspace here: `blob_cache_timeout`
        (a step's mount reads the container as it is when the step starts), `grant_workspace_access`
        (tasks use the connection's credential; it grants no workspace identity anything);
        `subscription_id` and `resource_group` are kept as labels in the connection's description.
        Secrets are never logged or shown in errors.
        """
        from airflow_provider_mlpipe import datastore_registration

        datastore_registration.note_unused(
            datastore_name,
            grant_workspace_access=grant_workspace_access,
            blob_cache_timeout=blob_cache_timeout,
        )
        datastore_registration.register_blob_container(
            workspace,
            datastore_name,
            container_name,
            account_name,
            sas_token,
            account_key,
            protocol,
            endpoint,
            overwrite,
            create_if_not_exists,
            skip_validation,
            {"subscription": subscription_id, "resource group": resource_group},
        )
        return Datastore(workspace, datastore_name)

    @staticmethod
    def register_azure_data_lake_gen2(
        workspace: Any,
        datastore_name: str,
        filesystem: str,
        account_name: str,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        resource_url: str | None = None,
        authority_url: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        grant_workspace_access: bool = False,
    ) -> Datastore:
        """Create or update the Airflow connection `datastore_name` of an ADLS Gen2 filesystem, and
        return its Datastore.

        The filesystem is read through the account's Blob endpoint (where it is a container), so
        the connection is a Blob datastore's (`mlpipe_blob`), written where
        `register_azure_blob_container` writes it. `tenant_id`, `client_id` and `client_secret`
        (all or none) are the service principal; none: the identity of whoever uses the datastore.
        `authority_url` is the principal's sign-in authority, `resource_url` the token audience
        (default: Azure Storage). The credential must list the filesystem from this machine before
        anything is written, as v1 validates. `overwrite`, `protocol` and `endpoint` as in
        `register_azure_blob_container`; `grant_workspace_access` is accepted without effect and
        `subscription_id`, `resource_group` are kept as labels in the connection's description.
        """
        from airflow_provider_mlpipe import datastore_registration

        datastore_registration.note_unused(datastore_name, grant_workspace_access=grant_workspace_access)
        datastore_registration.register_data_lake_gen2(
            workspace,
            datastore_name,
            filesystem,
            account_name,
            tenant_id,
            client_id,
            client_secret,
            resource_url,
            authority_url,
            protocol,
            endpoint,
            overwrite,
            {"subscription": subscription_id, "resource group": resource_group},
        )
        return Datastore(workspace, datastore_name)

    # Outside DAG files (notebooks, set-up scripts), like v1. These talk to storage, through
    # `storage_actions`, the one module by which authoring objects reach the hooks.

    def client(self) -> DatastoreClient:
        """The run-time client of this datastore (resolves the Airflow connection now)."""
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.client(self._name)

    def upload_files(
        self,
        files: list[str | Path],
        relative_root: str | Path | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """v1's `upload_files`: each file goes to `target_path/<its path below relative_root>`
        (default `relative_root`: the folder common to the files; it must hold them all). Existing
        files are kept unless `overwrite`. Returns a `DataReference` to `target_path`."""
        from airflow_provider_mlpipe import storage_actions

        target = storage_actions.upload_files(
            self._name, files, relative_root, target_path, overwrite, show_progress
        )
        return DataReference(self, path_on_datastore=target)

    def upload(
        self,
        src_dir: str | Path,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """v1's `upload`: every file under `src_dir` to the same place below `target_path` (existing
        files are kept unless `overwrite`). Returns a `DataReference` to `target_path`."""
        from airflow_provider_mlpipe import storage_actions

        target = storage_actions.upload_folder(self._name, src_dir, target_path, overwrite, show_progress)
        return DataReference(self, path_on_datastore=target)

    def download(
        self,
        target_path: str | Path,
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """v1's `download`: every file whose path starts with `prefix` (None: all) to
        `target_path/<its path>`; existing local files are kept unless `overwrite`. Returns how
        many files were downloaded."""
        from airflow_provider_mlpipe import storage_actions

        return storage_actions.download(self._name, target_path, prefix, overwrite, show_progress)

    @property
    def label(self) -> str:
        """How this datastore is named in messages (never resolves the default)."""
        return self._name or "default"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datastore) and other._name == self._name

    def __hash__(self) -> int:
        return hash(("Datastore", self._name))

    def __repr__(self) -> str:
        return "Datastore.default()" if self.is_default else f"Datastore({self.name!r})"


class DataReference:
    """Existing data on a datastore (a file or a folder) that steps read.

    `mode` is how a step brings it in: 'mount' (read in place where the datastore allows) or
    'download'. 'upload' (`as_upload()`, v1's output binding) can be made but a step refuses
    it, naming the alternative (see `upload_refusal`). `path_on_compute` (a PythonScriptStep's
    input) is where its script expects the data, below its working folder: the data is copied
    there whatever the mode; `overwrite` replaces what is already there.
    """

    def __init__(
        self,
        datastore: Datastore,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if not isinstance(datastore, Datastore):
            raise TypeError(f"DataReference {data_reference_name!r}: datastore must be a Datastore")
        if data_reference_name is None:
            data_reference_name = datastore.label  # never resolves the default datastore
        self.data_reference_name = check_word_name("DataReference", data_reference_name)
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore or ""
        self.mode = check_mode(f"DataReference {data_reference_name!r}", mode, (*INPUT_MODES, "upload"))
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    @property
    def name(self) -> str:
        return self.data_reference_name

    @property
    def source(self) -> tuple[Datastore, str, str]:
        """What makes two references the same step input whatever their mode: datastore, path, name.

        A step's `arguments` may hold `ref.as_download()` while its `inputs` hold `ref` (or
        the other way round): both are the one input, brought in as `inputs` says.
        """
        return self.datastore, self.path_on_datastore.strip("/"), self.data_reference_name

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        """A reference to `path` below this one (v1's `DataReference.path`), in mount mode.

        No `path` (or '/', '.', './') is this same data: itself, or renamed when
        `data_reference_name` is given.
        """
        if path is not None and not isinstance(path, str):
            raise TypeError(f"DataReference {self.name!r}: path must be a string, got {path!r}")
        if _is_root(path):
            if data_reference_name is None:
                return self
            return DataReference(self.datastore, data_reference_name, self.path_on_datastore)
        base = self.path_on_datastore.rstrip("/")
        full = path if _is_root(base) else f"{base}/{path}"
        return DataReference(self.datastore, data_reference_name, full)

    def as_mount(self) -> DataReference:
        """The same data, read in place where the datastore allows (else copied first)."""
        return self._with_mode("mount", self.path_on_compute, self.overwrite)

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        """The same data, copied to the worker before the step starts."""
        return self._with_mode("download", path_on_compute, overwrite)

    def as_upload(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        """v1's output binding; a step refuses it (see `upload_refusal`), a DataTransferStep takes
        it as its destination."""
        return self._with_mode("upload", path_on_compute, overwrite)

    def upload_refusal(self, step: str) -> str:
        """Why `step` cannot write to this reference, and what to write instead."""
        return (
            f"step {step!r}: DataReference {self.name!r} as a step output (v1's as_upload(): what the "
            f"step writes, uploaded to {self.path_on_datastore!r} on datastore {self.datastore.label!r}) "
            "is not supported: a step's outputs are PipelineData here. Write to a PipelineData output "
            "and copy it there with DataTransferStep(name, source_data_reference=<that PipelineData>, "
            "destination_data_reference=<this DataReference>); to read the data, use as_mount() or "
            "as_download()"
        )

    @staticmethod
    def create(
        data_reference_name: str | None = None, datapath: Any = None, datapath_compute_binding: Any = None
    ) -> DataReference:
        """v1's `DataReference.create`: a reference from a `DataPath` and a `DataPathComputeBinding`."""
        if datapath is None or datapath_compute_binding is None:
            raise ValueError("DataReference.create: datapath and datapath_compute_binding are required")
        return datapath.create_data_reference(data_reference_name, datapath_compute_binding)  # type: ignore[no-any-return]

    def _with_mode(self, mode: str, path_on_compute: str | None, overwrite: bool) -> DataReference:
        return DataReference(
            self.datastore, self.data_reference_name, self.path_on_datastore, mode, path_on_compute, overwrite
        )

    def __repr__(self) -> str:
        return (
            f"DataReference({self.datastore!r}, {self.data_reference_name!r}, "
            f"{self.path_on_datastore!r}, mode={self.mode!r})"
        )


def _is_root(path: str | None) -> bool:
    """v1's spellings of a datastore's (or a reference's own) root."""
    return not path or path in ("/", ".", "./")
