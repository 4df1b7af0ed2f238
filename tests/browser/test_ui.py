"""The example pipeline in the real Airflow UI, driven by headless Chromium (Debian's, never downloaded).

Log in through SimpleAuthManager's form, find the example DAG and its graph, open the trigger
form and see the typed pipeline parameter, trigger with another value, and read the run's
metrics on the "ML pipelines" page next to an earlier run's: in the time zone chosen in the UI,
with Airflow's state colours, and with long values that do not widen the page. Screenshots go to
`$MLPIPE_ARTIFACTS` (default `.test-artifacts/browser/`); with `MLPIPE_UPDATE_SCREENSHOTS=1`
the README's copies in `docs/screenshots/` are replaced too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.deployment]

CHROMIUM = Path("/usr/bin/chromium")
DAG_ID = "mlpipe_compare_models"
#: Screenshots the README shows, by the name the test saves them under.
DOCS_SCREENSHOTS = ("dag-graph", "trigger-form", "monitoring-runs", "monitoring-compare")
VIEWPORT = {"width": 1280, "height": 800}
UI_TIMEOUT_MS = 60_000
RUN_TIMEOUT_SECONDS = 240
#: The browser's own zone, and the one the user picks in the UI's time zone menu (neither is UTC).
BROWSER_TIMEZONE = "America/New_York"
UI_TIMEZONE = "Asia/Tokyo"
#: A pipeline whose first step fails (so its second is upstream_failed), run with a long URI parameter.
FAILING_DAG_ID = "mlpipe_bad_input"
LONG_URI = (
    "wasbs://raw@examplestorageaccount.blob.core.windows.net/wine_measurements_batch_"
    + "_".join(f"{i:04d}" for i in range(40))
    + ".csv"
)
FAILING_DAG = f"""
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

cleaned = PipelineData("cleaned")
check = PythonScriptStep(
    "check.py", name="check", arguments=["--source", PipelineParameter("source_uri", "none"), "--out", cleaned],
    outputs=[cleaned], source_directory="{FAILING_DAG_ID}_src",
)
fit = PythonScriptStep("fit.py", name="fit", arguments=["--data", cleaned], inputs=[cleaned], source_directory="{FAILING_DAG_ID}_src")
dag = Pipeline([check, fit]).to_dag("{FAILING_DAG_ID}")
"""


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium and Playwright's Python package; skipped without them (a failure on CI).

    Session-scoped so that it is checked before the (session) Airflow deployment is started.
    """
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found (Debian: `apt-get install chromium`; .ci/run installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as error:
            problem = f"Playwright's Python package is not installed ({error}); pip install -e '.[test]'"
    if problem:
        if _on_ci():
            pytest.fail(f"browser test needs {problem}; it is required on CI")
        pytest.skip(f"browser test: {problem}")
    return CHROMIUM


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("MLPIPE_ARTIFACTS") or REPO / ".test-artifacts") / "browser"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def example(chromium: Path, airflow_deployment: Any) -> Iterator[tuple[Any, str]]:
    """The repo's example pipeline in the deployment, its input data uploaded, and one run with defaults."""
    deployment = airflow_deployment
    dags = deployment.dags_folder
    shutil.copytree(REPO / "dags" / "compare_models", dags / "compare_models", dirs_exist_ok=True)
    ignore = dags / ".airflowignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if "compare_models/" not in lines:
        ignore.write_text("\n".join([*lines, "compare_models/"]) + "\n")
    prepared = subprocess.run(
        [sys.executable, str(REPO / "dags" / "compare_models" / "prepare_data.py")],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert prepared.returncode == 0, prepared.stderr
    shutil.copy(REPO / "dags" / f"{DAG_ID}.py", dags / f"{DAG_ID}.py")
    deployment.wait_for_dag(DAG_ID, timeout=180)
    baseline = deployment.trigger(DAG_ID, {})["dag_run_id"]
    final = deployment.wait_for_run(DAG_ID, baseline, timeout=RUN_TIMEOUT_SECONDS)
    assert final["state"] == "success", deployment.task_states(DAG_ID, baseline)
    yield deployment, baseline


@pytest.fixture(scope="module")
def failed_run(chromium: Path, airflow_deployment: Any) -> str:
    """A run of the failing pipeline (check fails, fit is upstream_failed) with LONG_URI as a parameter."""
    deployment = airflow_deployment
    deployment.write_dag(
        FAILING_DAG_ID,
        FAILING_DAG,
        {
            "check.py": "import sys\nsys.exit('no rows in ' + sys.argv[2])\n",
            "fit.py": "print('never runs')\n",
        },
    )
    deployment.wait_for_dag(FAILING_DAG_ID, timeout=180)
    run_id = deployment.trigger(FAILING_DAG_ID, {"source_uri": LONG_URI})["dag_run_id"]
    final = deployment.wait_for_run(FAILING_DAG_ID, run_id, timeout=RUN_TIMEOUT_SECONDS)
    states = deployment.task_states(FAILING_DAG_ID, run_id)
    assert final["state"] == "failed" and states == {"check": "failed", "fit": "upstream_failed"}, states
    return run_id


def airflow_state_colour(state: str) -> str:
    """The colour the installed Airflow UI gives `state`: its theme's `<palette>.600`, read from the UI bundle."""
    import airflow

    assets = Path(airflow.__file__).parent / "ui" / "dist" / "assets"
    bundle = next(assets.glob("index-*.js")).read_text()
    palette = re.search(rf"[,{{]{state}:\w+\(`(\w+)`\)", bundle).group(1)
    theme = bundle[bundle.index("tokens:{colors:{black:") :]
    return re.search(rf"[,{{]{palette}:\{{50:\{{value:.*?600:\{{value:`([^`]+)`", theme).group(1)


def in_ui_timezone(iso: str) -> str:
    """An API timestamp as the Airflow UI writes it in UI_TIMEZONE (dayjs `YYYY-MM-DD HH:mm:ss`)."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(UI_TIMEZONE)).strftime("%Y-%m-%d %H:%M:%S")


def choose_ui_timezone(page: Any, zone: str) -> None:
    """Pick `zone` in the Airflow UI's time zone menu (the clock button in its navigation)."""
    from playwright.sync_api import expect

    page.get_by_role("button", name=re.compile(r"^[+-]\d\d:\d\d$")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").fill(zone)
    page.keyboard.press("Enter")
    expect(dialog.get_by_text(f"Current time in {zone}")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()


def test_log_in_trigger_with_a_parameter_and_compare_metrics(failed_run, example, chromium, artifacts):
    from playwright.sync_api import expect, sync_playwright

    deployment, baseline = example
    shots: dict[str, Path] = {}

    def shoot(page: Any, name: str) -> None:
        shots[name] = artifacts / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(shots[name]))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport=VIEWPORT, timezone_id=BROWSER_TIMEZONE).new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)

            # Log in: the UI sends us to SimpleAuthManager's form, then back.
            page.goto(deployment.url + "/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("admin")
            shoot(page, "login")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url)
            choose_ui_timezone(page, UI_TIMEZONE)

            # The DAG list, then the DAG's graph: one node per step.
            page.goto(deployment.url + "/dags")
            expect(page.get_by_role("link", name=DAG_ID, exact=True)).to_be_visible()
            shoot(page, "dags")
            page.get_by_role("link", name=DAG_ID, exact=True).click()
            page.get_by_role("button", name="Show Graph (Press g)").click()
            nodes = page.locator(".react-flow__node")
            for step in ("train", "extract", "compare"):
                expect(nodes.filter(has_text=step)).to_have_count(1)
            shoot(page, "dag-graph")

            # The trigger form shows the PipelineParameter as a typed (number) field with its default.
            page.get_by_role("button", name="Trigger Dag").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_text("Run Parameters")).to_be_visible()
            field = dialog.get_by_role("spinbutton")
            expect(field).to_have_attribute("name", "element_pipeline_arg")
            expect(field).to_have_value("10")
            expect(dialog.get_by_text("PipelineParameter used by step(s): compare")).to_be_visible()
            field.fill("20")
            shoot(page, "trigger-form")
            dialog.get_by_role("button", name="Trigger", exact=True).click()

            # The UI opens the new run; it must succeed with the value we typed.
            page.wait_for_url(f"**/dags/{DAG_ID}/runs/**")
            run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("?")[0].split("/")[0])
            assert run_id != baseline
            final = deployment.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT_SECONDS)
            assert final["state"] == "success", deployment.task_states(DAG_ID, run_id)
            assert final["conf"]["pipeline_arg"] == 20
            page.reload()
            expect(page.get_by_text("Success").first).to_be_visible()
            shoot(page, "run")

            # Airflow's own list of runs writes the start in the chosen zone; so must the page.
            started = in_ui_timezone(final["start_date"])
            page.goto(f"{deployment.url}/dags/{DAG_ID}/runs")
            expect(page.get_by_role("row").filter(has_text=run_id)).to_contain_text(started)

            # The "ML pipelines" page, from the UI's navigation: it opens on the pipeline that ran
            # last (not the first by name, the failing one), in the UI's time zone and date format.
            page.get_by_role("link", name="ML pipelines").click()
            page.wait_for_url("**/plugin/ml-pipelines**")
            monitor = page.frame_locator("iframe[title='ML pipelines']")
            expect(monitor.get_by_test_id("pipeline-title")).to_have_text(DAG_ID)
            expect(monitor.get_by_test_id("timezone")).to_have_attribute("data-timezone", UI_TIMEZONE)
            row = monitor.locator(f"tr.run[data-run-id='{run_id}']")
            expect(row.locator("td.date")).to_have_text(started)
            expect(monitor.locator(f"a[data-dag-id={DAG_ID}] time")).to_have_text(started)
            expect(row.locator("[data-state]").first).to_have_text("success")
            # train and extract did not change: reused from the baseline run; compare ran again.
            expect(row.locator("[data-step=train] .reuse.hit")).to_be_visible()
            expect(row.locator("[data-step=compare] .reuse.hit")).to_have_count(0)
            details = monitor.locator(f"tr[data-details-of='{run_id}']")
            compare_step = details.locator("[data-step=compare]")
            expect(compare_step.locator("dd[data-metric=bootstrap_rounds]")).to_have_text("20")
            output = compare_step.locator("dd[data-output=out_data3]")
            expect(output).to_have_attribute("title", re.compile(re.escape(run_id.split("+")[0][:20])))
            expect(output).to_contain_text("/compare/out_data3")
            no_overflow = "node => node.scrollWidth <= node.clientWidth"
            assert monitor.locator("section.detail").evaluate(no_overflow), (
                "a long output URI widened the page"
            )
            shoot(page, "monitoring-runs")

            # Compare: the two runs' scalar metrics side by side, and a chart per metric. The
            # bootstrap's estimate depends on the rounds (pipeline_arg), so its bars differ.
            compare = monitor.locator("[data-testid=compare]")
            rounds = compare.locator("tr[data-metric=bootstrap_rounds] td")
            expect(rounds).to_have_text(["20", "10"])
            expect(compare.locator("thead th").nth(1)).to_contain_text(started)
            expect(compare.locator("svg[data-metric=bootstrap_rounds] rect")).to_have_count(2)
            for metric in ("accuracy_difference_mean", "accuracy_difference_stderr"):
                bars = compare.locator(f"svg[data-metric={metric}] rect")
                expect(bars).to_have_count(2)
                widths = bars.evaluate_all("bars => bars.map((bar) => bar.getBBox().width)")
                assert min(widths) > 1 and abs(widths[0] - widths[1]) > 5, (metric, widths)
            row.get_by_role("button", name="Hide details").click()
            expect(details).to_have_count(0)
            compare.evaluate("node => node.scrollIntoView({block: 'start'})")
            shoot(page, "monitoring-compare")

            # The failing pipeline: Airflow's colour for upstream_failed, and a long parameter
            # that is cut on screen (whole on hover) instead of stretching its column.
            monitor.locator(f"a[data-dag-id={FAILING_DAG_ID}]").click()
            failed = monitor.locator(f"tr.run[data-run-id='{failed_run}']")
            expect(failed.locator("[data-step=fit]")).to_have_class(re.compile(r"\bupstream_failed\b"))
            # The latest run of a pipeline opens with its step details.
            badge = monitor.locator(f"tr[data-details-of='{failed_run}'] [data-step=fit] .state")
            expect(badge).to_have_text("upstream_failed")
            same_colour = badge.evaluate(
                """(node, expected) => {
                    const probe = document.createElement("span");
                    probe.style.color = expected;
                    document.body.append(probe);
                    const wanted = getComputedStyle(probe).color;
                    probe.remove();
                    return [getComputedStyle(node).backgroundColor, wanted];
                }""",
                airflow_state_colour("upstream_failed"),
            )
            assert same_colour[0] == same_colour[1], same_colour
            param = failed.locator("td.params [data-param=source_uri] .clip")
            expect(param).to_have_attribute("title", f'"{LONG_URI}"')
            assert failed.locator("td.params").evaluate("node => node.getBoundingClientRect().width") < 320
            assert monitor.locator("section.detail").evaluate(no_overflow), (
                "a long parameter widened the page"
            )
            shoot(page, "monitoring-failed")

            # The page follows a new choice in the UI's menu at once, without a reload.
            choose_ui_timezone(page, "UTC")
            expect(monitor.get_by_test_id("timezone")).to_have_attribute("data-timezone", "UTC")
            failed_start = deployment.wait_for_run(FAILING_DAG_ID, failed_run)["start_date"]
            utc = datetime.fromisoformat(failed_start).astimezone(ZoneInfo("UTC"))
            expect(failed.locator("td.date")).to_have_text(utc.strftime("%Y-%m-%d %H:%M:%S"))
        finally:
            browser.close()

    if os.environ.get("MLPIPE_UPDATE_SCREENSHOTS") == "1":
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        for name in DOCS_SCREENSHOTS:
            shutil.copy(shots[name], docs / f"{name}.png")


def test_add_connection_forms_show_labelled_fields(chromium, airflow_deployment, artifacts):
    """Admin -> Connections -> Add: our connection types offer their own labelled fields, not raw
    Host/Port/Schema, and what the form saves is what the hooks read."""
    from playwright.sync_api import expect, sync_playwright

    deployment = airflow_deployment
    conn_id = "ui_form_folder"
    shots: dict[str, Path] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            # Tall enough for the whole dialog in one screenshot.
            page = browser.new_context(viewport={**VIEWPORT, "height": 1100}).new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(deployment.url + "/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("admin")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url)

            page.get_by_role("button", name="Admin").click()
            page.get_by_role("menuitem", name="Connections").click()
            page.get_by_role("button", name="Add Connection").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_role("combobox").fill("mlpipe")
            expect(page.get_by_role("option")).to_have_text(
                [
                    "mlpipe Azure Blob datastore",
                    "mlpipe Azure Data Lake Analytics",
                    "mlpipe local folder datastore",
                ]
            )

            # The local folder: one field, "Root folder", with its help; no Host/Port/Login/Password.
            page.get_by_role("option", name="mlpipe local folder datastore").click()
            dialog.locator("input[name=connection_id]").fill(conn_id)
            for name in ("host", "port", "login", "password", "schema"):
                expect(dialog.locator(f"input[name={name}]")).to_have_count(0)
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            expect(dialog.get_by_text("Root folder", exact=True)).to_be_visible()
            expect(dialog.get_by_text("Every worker must see it at this path")).to_be_visible()
            dialog.locator("input[name=element_root]").fill("/data/mlpipe")
            shots["connection-form-local"] = artifacts / "connection-form-local.png"
            dialog.screenshot(path=str(shots["connection-form-local"]))
            dialog.get_by_role("button", name="Save").click()
            expect(page.get_by_role("row").filter(has_text=conn_id)).to_be_visible()
            with deployment.client() as client:
                saved = client.get(f"/api/v2/connections/{conn_id}").json()
                client.delete(f"/api/v2/connections/{conn_id}")
            assert (saved["conn_type"], json.loads(saved["extra"])) == (
                "mlpipe_local",
                {"root": "/data/mlpipe"},
            )

            # ADLA: the account and the service principal under their own names, tenant and
            # endpoint among the extra fields, the access token masked.
            page.get_by_role("button", name="Add Connection").click()
            dialog.get_by_role("combobox").fill("mlpipe Azure")
            page.get_by_role("option", name="mlpipe Azure Data Lake Analytics").click()
            for name, label in (
                ("host", "Account name"),
                ("login", "Client ID"),
                ("password", "Client secret"),
            ):
                expect(dialog.get_by_text(label, exact=True)).to_be_visible()
                expect(dialog.locator(f"input[name={name}]")).not_to_have_attribute("placeholder", "")
            for name in ("port", "schema"):
                expect(dialog.locator(f"input[name={name}]")).to_have_count(0)
            shots["connection-form-adla"] = artifacts / "connection-form-adla.png"
            dialog.screenshot(path=str(shots["connection-form-adla"]))
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            for label in ("Tenant ID", "Access token", "Job endpoint DNS suffix", "Job endpoint URL (tests)"):
                expect(dialog.get_by_text(label, exact=True)).to_be_visible()
            expect(dialog.locator("input[name=element_access_token]")).to_have_attribute("type", "password")
            shots["connection-form-adla-extra"] = artifacts / "connection-form-adla-extra.png"
            dialog.screenshot(path=str(shots["connection-form-adla-extra"]))
            page.keyboard.press("Escape")

            # Blob: the Azure provider's wasb form (its labels) plus the datastore's container and root.
            page.get_by_role("button", name="Add Connection").click()
            dialog.get_by_role("combobox").fill("mlpipe Azure")
            page.get_by_role("option", name="mlpipe Azure Blob datastore").click()
            expect(dialog.get_by_text("Blob Storage Login (optional)", exact=True)).to_be_visible()
            dialog.get_by_role("button", name="Extra Fields", exact=True).click()
            for label in ("Container", "Root prefix", "SAS Token (optional)", "Managed Identity Client ID"):
                expect(dialog.get_by_text(label, exact=True)).to_be_visible()
            shots["connection-form-blob"] = artifacts / "connection-form-blob.png"
            dialog.screenshot(path=str(shots["connection-form-blob"]))
        finally:
            browser.close()

    if os.environ.get("MLPIPE_UPDATE_SCREENSHOTS") == "1":
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(shots["connection-form-local"], docs / "connection-form-local.png")


ENDPOINT_PIPELINE = "mlpipe_endpoint_shown"
ENDPOINT_DAG = f"""
from airflow_provider_mlpipe import Pipeline, PythonScriptStep

step = PythonScriptStep("noop.py", name="noop", source_directory="{ENDPOINT_PIPELINE}_src")
dag = Pipeline([step]).publish("{ENDPOINT_PIPELINE}")
"""


def test_the_monitoring_page_lists_pipeline_endpoints_with_their_versions(
    chromium, airflow_deployment, artifacts
):
    from playwright.sync_api import expect, sync_playwright

    deployment = airflow_deployment
    deployment.write_dag(ENDPOINT_PIPELINE, ENDPOINT_DAG, {"noop.py": "print('noop')\n"})
    deployment.wait_for_dag(ENDPOINT_PIPELINE, timeout=180)
    name = "shown_endpoint"
    with deployment.client() as admin:
        made = admin.post(
            "/mlpipe/endpoints", json={"Name": name, "Description": "shown", "PipelineId": ENDPOINT_PIPELINE}
        )
    assert made.status_code in (200, 409), made.text
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page.goto(deployment.url + "/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("admin")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "/auth/login" not in url)

            # The JSON the page reads, with the session cookie the login set.
            answer = page.request.get(deployment.url + "/mlpipe/monitor/api/endpoints")
            assert answer.status == 200, answer.text()
            [shown] = [e for e in answer.json()["endpoints"] if e["name"] == name]
            assert (shown["status"], shown["default_version"]) == ("Active", "0")
            assert shown["versions"] == [
                {"version": "0", "pipeline_id": ENDPOINT_PIPELINE, "is_default": True}
            ]

            page.goto(deployment.url + "/mlpipe/monitor/")
            item = page.get_by_test_id("endpoints").locator(f"li[data-endpoint='{name}']")
            expect(item.locator("b")).to_have_text(name)
            expect(item.locator("li[data-version='0'].default")).to_contain_text(ENDPOINT_PIPELINE)
            expect(item.locator("li[data-version='0'] .tag")).to_have_text("default")
            page.screenshot(path=str(artifacts / "monitoring-endpoints.png"))
        finally:
            browser.close()
