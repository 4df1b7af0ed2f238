// The "ML pipelines" page: pipelines, their runs with each step, and runs' metrics compared.
// Plain JavaScript, no build step. Every fetch is same-origin, so the browser sends Airflow's
// session cookie and the API answers as it does for Airflow's own UI (401 without it).
"use strict";

const API = "api";
const AIRFLOW = "../../"; // the Airflow UI, relative to <base>/mlpipe/monitor/
const TERMINAL = new Set(["success", "failed", "upstream_failed", "skipped", "removed"]);
const PALETTE = ["#017cee", "#e8590c", "#2f9e44", "#9c36b5", "#c2255c", "#1098ad", "#f08c00", "#495057"];
const POLL_MS = 5000;
// Airflow's UI keeps the user's time zone in localStorage under this key (as JSON) and, without a
// choice, shows the browser's zone; it writes dates as YYYY-MM-DD HH:mm:ss. The page is on the
// UI's origin, so it reads the same setting and writes every date the same way.
const TIMEZONE_KEY = "timezone";
// Long values (URIs, parameters) keep at most this many characters of their end in view.
const TAIL_CHARS = 20;

const state = { pipelines: [], dagId: null, data: null, picked: null, open: new Set(), timer: null, zone: null, dates: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children.flat()) node.append(child instanceof Node ? child : String(child));
  return node;
}

function airflowLink(path, text) {
  return el("a", { href: AIRFLOW + path, target: "_top" }, text);
}

function runPath(dagId, runId) {
  return `dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(runId)}`;
}

function fmt(value) {
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(4)));
}

function uiTimeZone() {
  try {
    const chosen = JSON.parse(localStorage.getItem(TIMEZONE_KEY) || "null");
    if (typeof chosen === "string" && chosen) {
      new Intl.DateTimeFormat("en-US", { timeZone: chosen }); // a RangeError if it is no time zone
      return chosen;
    }
  } catch (_) { /* not set, not JSON or not a zone: the browser's, as the UI does */ }
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function useUiTimeZone() {
  state.zone = uiTimeZone();
  state.dates = new Intl.DateTimeFormat("en-US", {
    timeZone: state.zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const label = document.getElementById("timezone");
  label.textContent = `Times in ${state.zone}`;
  label.dataset.timezone = state.zone;
}

function when(iso) {
  if (!iso) return "";
  const parts = Object.fromEntries(state.dates.formatToParts(new Date(iso)).map((part) => [part.type, part.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

function timeNode(iso) {
  return iso ? el("time", { datetime: iso, title: `${when(iso)} ${state.zone} (${iso})` }, when(iso)) : "";
}

function clipped(text) {
  // One line that never widens its column: the start is cut ("\u2026") as space requires, the end
  // (a URI's last path segments) stays; hovering shows, and copying takes, the whole value.
  const value = String(text);
  const last = value.lastIndexOf("/", value.length - 2);
  const before = last > 0 ? value.lastIndexOf("/", last - 1) : -1;
  const slash = before > 0 && value.length - before <= TAIL_CHARS ? before : last;
  const tailLength = Math.min(TAIL_CHARS, slash > 0 ? value.length - slash : 12);
  const cut = value.length > tailLength ? value.length - tailLength : value.length;
  return el("span", { class: "clip", title: value }, el("span", { class: "head" }, value.slice(0, cut)), el("span", { class: "tail" }, value.slice(cut)));
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 60 ? `${value.toFixed(1)} s` : `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

function stateBadge(value) {
  const name = value || "none";
  return el("span", { class: `state ${name}`, "data-state": name }, name);
}

class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function getJson(path) {
  const response = await fetch(`${API}/${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON */ }
    throw new HttpError(response.status, detail);
  }
  return response.json();
}

function showProblem(error) {
  const box = document.getElementById("problem");
  box.replaceChildren();
  if (!error) {
    box.hidden = true;
    return;
  }
  if (error.status === 401) {
    box.append("You are not signed in to Airflow (401). ", airflowLink("", "Sign in"), " and open this page again.");
  } else if (error.status === 403) {
    box.append(`Airflow does not let you read this (403): ${error.message}`);
  } else {
    box.append(`Could not load the data: ${error.status || ""} ${error.message}`);
  }
  box.hidden = false;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

// ------------------------------------------------------------------ pipelines

async function loadPipelines() {
  const answer = await getJson("pipelines");
  state.pipelines = answer.pipelines;
  renderPipelines();
}

function renderPipelines() {
  const list = document.getElementById("pipelines");
  list.replaceChildren(
    ...state.pipelines.map((p) =>
      el(
        "li",
        {},
        el(
          "a",
          { href: `#${encodeURIComponent(p.dag_id)}`, "data-dag-id": p.dag_id, class: p.dag_id === state.dagId ? "selected" : null },
          p.dag_id,
          el("span", { class: "sub" }, p.latest_run ? [stateBadge(p.latest_run.state), " ", timeNode(p.latest_run.start_date)] : "no runs"),
        ),
      ),
    ),
  );
  document.getElementById("no-pipelines").hidden = state.pipelines.length > 0;
}

function lastRunTime(pipeline) {
  const run = pipeline.latest_run;
  return run ? Date.parse(run.start_date || run.run_after || "") || 0 : -1;
}

function chosenDagId() {
  // The one in the URL, else the one shown so far, else the pipeline that ran last.
  const known = (dagId) => state.pipelines.some((p) => p.dag_id === dagId);
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (known(wanted)) return wanted;
  if (known(state.dagId)) return state.dagId;
  const latest = [...state.pipelines].sort((a, b) => lastRunTime(b) - lastRunTime(a))[0];
  return latest ? latest.dag_id : null;
}

// ------------------------------------------------------------------ runs and steps

function scalarMetrics(run) {
  // [{step, name, value}] of the run's numeric single-value metrics.
  const found = [];
  for (const step of run.steps || []) {
    for (const [name, value] of Object.entries(step.metrics || {})) {
      if (typeof value === "number") found.push({ step: step.task_id, name, value });
    }
  }
  return found;
}

function metricsList(metrics) {
  const rows = [];
  for (const [name, value] of Object.entries(metrics || {})) {
    let shown;
    if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") shown = fmt(value);
    else if (Array.isArray(value)) shown = `${value.length} values: ${value.slice(0, 8).map(fmt).join(", ")}${value.length > 8 ? ", ..." : ""}`;
    else if (value && typeof value === "object") {
      const columns = Object.keys(value);
      const count = columns.length ? (value[columns[0]] || []).length : 0;
      shown = `table, ${count} rows: ${columns.join(", ")}`;
    } else shown = JSON.stringify(value);
    rows.push(el("dt", {}, name), el("dd", { class: "metric", "data-metric": name }, shown));
  }
  return rows;
}

function stepImages(dagId, run, step) {
  // The images the step's script logged (Run.log_image), each with its metric name.
  const images = step.images || [];
  if (!images.length) return null;
  const base = `${API}/pipelines/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(run.run_id)}/steps/${encodeURIComponent(step.task_id)}/images/`;
  return el(
    "div",
    { class: "images", "data-testid": "step-images" },
    ...images.map((image) => {
      const src = base + image.path.split("/").map(encodeURIComponent).join("/");
      return el(
        "figure",
        { class: "image", "data-image": image.name },
        el("a", { href: src, target: "_blank", rel: "noopener" }, el("img", { src, alt: image.description || image.name, loading: "lazy" })),
        el("figcaption", { title: image.description || "" }, image.name),
      );
    }),
  );
}

function orderSteps(steps) {
  // In the order they ran (not started yet: last), then by name.
  const key = (s) => s.start_date || "~";
  return [...steps].sort((a, b) => key(a).localeCompare(key(b)) || a.task_id.localeCompare(b.task_id));
}

function stepChip(step) {
  const hit = step.reuse && step.reuse.decision === "hit";
  return el(
    "span",
    { class: `chip ${step.state || "none"}`, "data-step": step.task_id, title: `${step.task_id}: ${step.state || "not started"}${hit ? ", reused" : ""}` },
    step.task_id,
    hit ? el("span", { class: "reuse hit" }, " \u21bb reused") : null,
  );
}

function runLabel(run) {
  // A run by when it started, in the page's one date format; its id if it has not started.
  const started = run.start_date || run.run_after;
  if (started) return when(started);
  return run.run_id.length > 19 ? run.run_id.slice(0, 18) + "\u2026" : run.run_id;
}

function stepCard(dagId, run, step) {
  const reuse = step.reuse;
  let reuseNode = null;
  if (reuse && reuse.decision === "hit") {
    const source = reuse.source || {};
    reuseNode = el(
      "span",
      { class: "reuse hit", "data-reuse": "hit" },
      "reused from ",
      source.run_id ? airflowLink(`${runPath(source.dag_id || dagId, source.run_id)}/tasks/${encodeURIComponent(source.task_id || step.task_id)}`, source.run_id) : "an earlier run",
    );
  } else if (reuse && reuse.decision) {
    reuseNode = el("span", { class: "reuse miss", "data-reuse": reuse.decision, title: reuse.reason || "" }, `ran (reuse ${reuse.decision}${reuse.reason ? ": " + reuse.reason : ""})`);
  }
  const details = [];
  for (const [name, out] of Object.entries(step.outputs || {})) {
    const where = out.uri || `${out.datastore}:${out.path_on_datastore}`;
    details.push(el("dt", {}, name), el("dd", { class: "output", "data-output": name, title: where }, clipped(where)));
  }
  details.push(...metricsList(step.metrics));
  return el(
    "div",
    { class: "step", "data-step": step.task_id },
    el(
      "div",
      { class: "step-title" },
      el("b", {}, airflowLink(`${runPath(dagId, run.run_id)}/tasks/${encodeURIComponent(step.task_id)}`, step.task_id)),
      stateBadge(step.state),
      step.duration !== null ? el("span", { class: "muted" }, seconds(step.duration)) : null,
      reuseNode,
    ),
    details.length ? el("dl", { class: "kv" }, details) : null,
    stepImages(dagId, run, step),
  );
}

function renderPipeline() {
  const data = state.data;
  const head = document.getElementById("pipeline-head");
  const table = document.getElementById("runs");
  if (!data) {
    head.replaceChildren();
    table.hidden = true;
    document.getElementById("runs-title").hidden = true;
    document.getElementById("compare").hidden = true;
    return;
  }
  const p = data.pipeline;
  head.replaceChildren(
    el(
      "div",
      { class: "head-line" },
      el("h2", { "data-testid": "pipeline-title" }, p.dag_id),
      airflowLink(`dags/${encodeURIComponent(p.dag_id)}`, "DAG page"),
      p.published ? el("span", { class: "tag" }, `published${p.version ? " v" + p.version : ""}`) : null,
      p.is_paused ? el("span", { class: "tag" }, "paused") : null,
    ),
    p.description ? el("p", { class: "muted" }, p.description) : "", // replaceChildren would write "null"
  );
  const hidden = document.getElementById("hidden-note");
  hidden.hidden = !data.hidden.length;
  hidden.textContent = data.hidden.length ? `Airflow does not let you read this pipeline's ${data.hidden.join(" and ")}; they are not shown.` : "";
  document.getElementById("runs-title").hidden = false;
  document.getElementById("no-runs").hidden = data.runs.length > 0;
  table.hidden = data.runs.length === 0;
  const rows = [];
  for (const run of data.runs) {
    const open = state.open.has(run.run_id);
    rows.push(
      el(
        "tr",
        { "data-run-id": run.run_id, class: "run" },
        el(
          "td",
          {},
          el("input", {
            type: "checkbox",
            "aria-label": `compare ${run.run_id}`,
            checked: state.picked.has(run.run_id),
            disabled: scalarMetrics(run).length === 0,
            title: scalarMetrics(run).length ? "Compare this run" : "No scalar metrics",
            onchange: (event) => {
              if (event.target.checked) state.picked.add(run.run_id);
              else state.picked.delete(run.run_id);
              renderCompare();
            },
          }),
        ),
        el("td", { class: "run" }, airflowLink(runPath(p.dag_id, run.run_id), run.run_id), run.experiment_name ? el("div", { class: "muted" }, "experiment ", clipped(run.experiment_name)) : null),
        el("td", {}, stateBadge(run.state)),
        el("td", { class: "date" }, timeNode(run.start_date)),
        el("td", { class: "num" }, seconds(run.duration)),
        el("td", { class: "params" }, Object.entries(run.params).map(([k, v]) => el("div", { "data-param": k }, `${k} = `, clipped(JSON.stringify(v))))),
        el(
          "td",
          {},
          run.steps === null
            ? el("span", { class: "muted" }, "hidden")
            : el("div", { class: "chips" }, orderSteps(run.steps).map((s) => stepChip(s)),
              run.steps.length ? el("button", { type: "button", class: "toggle", "aria-expanded": String(open), onclick: () => {
                if (state.open.has(run.run_id)) state.open.delete(run.run_id);
                else state.open.add(run.run_id);
                renderPipeline();
              } }, open ? "Hide details" : "Details") : null),
        ),
      ),
    );
    if (open && run.steps) {
      rows.push(el("tr", { class: "details", "data-details-of": run.run_id }, el("td", {}), el("td", { colspan: 6 }, el("div", { class: "steps" }, orderSteps(run.steps).map((s) => stepCard(p.dag_id, run, s))))));
    }
  }
  table.tBodies[0].replaceChildren(...rows);
  renderCompare();
}

// ------------------------------------------------------------------ compare

function metricColumns(runs) {
  // Metric labels: the metric's name, or "step.name" when two steps log the same name.
  const steps = new Map();
  for (const run of runs) for (const m of scalarMetrics(run)) {
    if (!steps.has(m.name)) steps.set(m.name, new Set());
    steps.get(m.name).add(m.step);
  }
  const columns = [];
  for (const [name, stepSet] of steps) {
    for (const step of [...stepSet].sort()) columns.push({ step, name, label: stepSet.size > 1 ? `${step}.${name}` : name });
  }
  return columns.sort((a, b) => a.label.localeCompare(b.label));
}

function valueOf(run, column) {
  const found = scalarMetrics(run).find((m) => m.step === column.step && m.name === column.name);
  return found ? found.value : null;
}

function barChart(column, runs) {
  const width = 310, rowHeight = 22, labelWidth = 128, top = 20;
  const values = runs.map((run) => valueOf(run, column));
  const numbers = values.filter((v) => v !== null);
  const low = Math.min(0, ...numbers), high = Math.max(0, ...numbers);
  const span = high - low || 1;
  const plot = width - labelWidth - 50;
  const x = (v) => labelWidth + ((v - low) / span) * plot;
  const height = top + rowHeight * runs.length + 6;
  const parts = [svg("text", { x: 0, y: 13, "font-weight": "600" }, column.label), svg("line", { class: "axis", x1: x(0), x2: x(0), y1: top - 2, y2: height - 4 })];
  runs.forEach((run, index) => {
    const y = top + index * rowHeight;
    const value = values[index];
    parts.push(svg("text", { x: 0, y: y + 14 }, runLabel(run)));
    if (value === null) {
      parts.push(svg("text", { x: labelWidth, y: y + 14, opacity: "0.6" }, "n/a"));
      return;
    }
    const start = Math.min(x(0), x(value));
    parts.push(svg("rect", { x: start, y: y + 3, width: Math.max(1, Math.abs(x(value) - x(0))), height: rowHeight - 8, rx: 2, fill: PALETTE[index % PALETTE.length] }, svg("title", {}, `${run.run_id}: ${value}`)));
    parts.push(svg("text", { x: Math.max(x(value), x(0)) + 4, y: y + 14 }, fmt(value)));
  });
  return svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${column.label} by run`, "data-metric": column.label }, parts);
}

function renderCompare() {
  const box = document.getElementById("compare");
  const runs = (state.data ? state.data.runs : []).filter((run) => state.picked.has(run.run_id));
  box.hidden = runs.length === 0;
  const tableBox = document.getElementById("compare-table");
  const chartBox = document.getElementById("compare-chart");
  if (!runs.length) {
    tableBox.replaceChildren();
    chartBox.replaceChildren();
    return;
  }
  // Metrics that differ between the runs first: they are what a comparison is for.
  const differs = (column) => new Set(runs.map((run) => valueOf(run, column))).size > 1;
  const columns = metricColumns(runs).sort((a, b) => differs(b) - differs(a) || a.label.localeCompare(b.label));
  const head = el("tr", {}, el("th", {}, "metric"), runs.map((run, i) => el("th", { class: "num", title: run.run_id }, el("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }), runLabel(run))));
  const body = columns.map((column) =>
    el("tr", { "data-metric": column.label }, el("th", {}, column.label), runs.map((run) => {
      const value = valueOf(run, column);
      return el("td", { class: "num" }, value === null ? "" : fmt(value));
    })),
  );
  const params = [...new Set(runs.flatMap((run) => Object.keys(run.params)))].sort().map((name) =>
    el("tr", { class: "param" }, el("th", {}, `param ${name}`), runs.map((run) => el("td", { class: "num" }, name in run.params ? JSON.stringify(run.params[name]) : el("span", { class: "muted", title: "not in the run's conf: the DAG's default" }, "default")))),
  );
  tableBox.replaceChildren(el("table", { "data-testid": "compare-table" }, el("thead", {}, head), el("tbody", {}, params, body)));
  chartBox.replaceChildren(...columns.map((column) => barChart(column, runs)));
}

// ------------------------------------------------------------------ loading

async function loadRuns() {
  if (!state.dagId) {
    state.data = null;
    renderPipeline();
    return;
  }
  const dagId = state.dagId;
  const data = await getJson(`pipelines/${encodeURIComponent(dagId)}/runs?limit=20`);
  if (dagId !== state.dagId) return; // the user moved on meanwhile
  if (state.picked === null || state.picked.dagId !== dagId) {
    // First view of this pipeline: compare its two latest runs that have metrics.
    state.picked = new Set(data.runs.filter((run) => scalarMetrics(run).length).slice(0, 2).map((run) => run.run_id));
    state.picked.dagId = dagId;
    state.open = new Set(data.runs.slice(0, 1).map((run) => run.run_id));
  }
  state.data = data;
  renderPipeline();
}

async function refresh() {
  clearTimeout(state.timer);
  useUiTimeZone();
  setStatus("Loading\u2026");
  try {
    await loadPipelines();
    state.dagId = chosenDagId();
    for (const link of document.querySelectorAll("#pipelines a")) link.classList.toggle("selected", link.dataset.dagId === state.dagId);
    await loadRuns();
    showProblem(null);
    const busy = state.data && state.data.runs.some((run) => !TERMINAL.has(run.state));
    setStatus(`Updated ${when(new Date().toISOString())}${busy ? " \u00b7 refreshing while runs are in progress" : ""}`);
    if (busy) state.timer = setTimeout(refresh, POLL_MS);
  } catch (error) {
    setStatus("");
    showProblem(error);
  }
}

window.addEventListener("hashchange", refresh);
// The UI's time zone menu writes localStorage in the parent window: follow it at once.
window.addEventListener("storage", (event) => {
  if (event.key !== TIMEZONE_KEY && event.key !== null) return;
  useUiTimeZone();
  renderPipelines();
  renderPipeline();
});
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("refresh").addEventListener("click", refresh);
  refresh();
});

// ------------------------------------------------------------------ pipeline endpoints

// Each endpoint the user may read, with its versions (the default marked) and their pipelines.
async function loadEndpoints() {
  let answer;
  try {
    answer = await getJson("endpoints");
  } catch (_) {
    return; // the pipelines' problem box already tells why nothing loads (401, 403...)
  }
  const version = (v) => el(
    "li",
    { "data-version": v.version, class: v.is_default ? "default" : null },
    `${v.version}: `,
    el("a", { href: `#${encodeURIComponent(v.pipeline_id)}`, "data-pipeline": v.pipeline_id }, v.pipeline_id),
    v.is_default ? el("span", { class: "tag" }, "default") : null,
  );
  document.getElementById("endpoints").replaceChildren(
    ...answer.endpoints.map((endpoint) => el(
      "li",
      { "data-endpoint": endpoint.name, "data-status": endpoint.status, title: endpoint.description || endpoint.id },
      el("b", {}, endpoint.name),
      endpoint.status === "Active" ? null : el("span", { class: "tag" }, endpoint.status.toLowerCase()),
      el("ol", { class: "versions" }, endpoint.versions.map(version)),
    )),
  );
  document.getElementById("no-endpoints").hidden = answer.endpoints.length > 0;
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("refresh").addEventListener("click", loadEndpoints);
  loadEndpoints();
});
