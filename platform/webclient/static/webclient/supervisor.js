// The supervisor's page: unresolved risk alerts live (acknowledge, resolve, notes), the team's
// workload table and the waiting queue. Alert objects carry no text or name; the name comes
// from the supervisor's own conversation list (an audited read on the server).
import { api, formatTime, showError, signOutButtons } from "./api.js";
import { LiveSocket } from "./live.js";

signOutButtons();
const root = document.querySelector(".supervisor");
const picker = document.getElementById("programme");
const alertsElement = document.getElementById("alerts");
const announcer = document.getElementById("alert-announcer");
let programme = picker ? picker.value : root.dataset.programmes.split(",")[0];

const RESOLUTIONS = [
  ["safe", "Person contacted and safe"],
  ["support_arranged", "Crisis support arranged"],
  ["emergency", "Emergency services involved"],
  ["false_positive", "Not a risk (false alarm)"],
  ["unreachable", "Could not reach the person"],
  ["other", "Other"],
];
const STATUS = { open: "Open: nobody has acknowledged it", acknowledged: "Acknowledged", resolved: "Resolved" };

const alerts = new Map(); // id -> alert
const cards = new Map(); // id -> {element, key}: each card is rebuilt only when it changed
const names = new Map(); // conversation id -> the person's name
let started = false;

const live = new LiveSocket({
  banner: document.getElementById("connection"),
  onOpen: () => refreshAlerts(),
  onFrame: (frame) => {
    if (frame.type === "alert") upsert(frame.alert, { announce: started });
  },
});

function label(alert) {
  const who = (alert.conversation && names.get(alert.conversation)) || "A service user";
  const named = alert.categories.length ? alert.categories.join(", ").replaceAll("_", " ") : "risk";
  const categories = named.charAt(0).toUpperCase() + named.slice(1);
  return { who, categories };
}

function upsert(alert, { announce = false } = {}) {
  if (alert.programme && alert.programme !== programme) return;
  const known = alerts.get(alert.id);
  alerts.set(alert.id, alert);
  if (alert.status === "resolved") alerts.delete(alert.id);
  if (announce && !known && alert.status === "open") {
    const { who, categories } = label(alert);
    announcer.textContent = `New ${alert.severity} risk alert: ${who} (${categories}).`;
    if (alert.conversation && !names.has(alert.conversation)) loadNames().then(render);
  }
  render();
  scheduleWorkload();
}

function cardKey(alert) {
  return [alert.status, alert.escalation_level, names.get(alert.conversation) || ""].join("|");
}

// Alert frames come again on every reconnect: a card that did not change is left alone, so a
// half-written note, a chosen outcome and keyboard focus survive them.
function render() {
  for (const [id, card] of cards) {
    if (!alerts.has(id)) {
      card.element.remove();
      cards.delete(id);
    }
  }
  const sorted = [...alerts.values()].sort((a, b) => b.opened_at.localeCompare(a.opened_at));
  let previous = null;
  for (const alert of sorted) {
    let card = cards.get(alert.id);
    const key = cardKey(alert);
    if (!card) {
      card = { element: renderAlert(alert), key };
      cards.set(alert.id, card);
      if (previous) previous.after(card.element);
      else alertsElement.prepend(card.element);
    } else if (card.key !== key) {
      const hadFocus = card.element.contains(document.activeElement);
      const fresh = renderAlert(alert);
      card.element.replaceWith(fresh);
      card.element = fresh;
      card.key = key;
      if (hadFocus) fresh.querySelector("h3").focus();
    }
    previous = card.element;
  }
  document.getElementById("alerts-empty").hidden = sorted.length > 0;
  const open = sorted.filter((a) => a.status === "open").length;
  document.getElementById("alert-count").textContent = `(${sorted.length} unresolved, ${open} not acknowledged)`;
}

function renderAlert(alert) {
  const { who, categories } = label(alert);
  const item = document.createElement("li");
  item.className = `alert ${alert.status}`;
  item.dataset.id = alert.id;
  const heading = document.createElement("h3");
  heading.id = `alert-${alert.id}`;
  heading.tabIndex = -1;
  heading.dir = "auto";
  heading.textContent = `${alert.severity === "high" ? "High" : "Medium"} risk: ${who}`;
  const details = document.createElement("p");
  details.textContent = `${categories}. ${STATUS[alert.status]}. Opened ${formatTime(alert.opened_at)}.`;
  if (alert.escalation_level > 0) details.textContent += ` Escalated (level ${alert.escalation_level}).`;
  item.setAttribute("aria-labelledby", heading.id);
  item.append(heading, details);
  const actions = document.createElement("div");
  actions.className = "actions";
  const problem = document.createElement("p");
  problem.className = "error";
  problem.setAttribute("role", "alert");
  problem.hidden = true;
  const attempt = (work) => () => work().catch((failure) => showError(problem, failure.message));
  if (alert.status === "open") actions.append(button("Acknowledge", attempt(() => act(alert, "acknowledge/"))));
  if (alert.conversation) {
    const link = document.createElement("a");
    link.href = `/inbox/?conversation=${alert.conversation}`;
    link.textContent = "Open the conversation";
    actions.append(link);
  }
  actions.append(button("Show notes", attempt(() => showNotes(alert, item))));
  item.append(actions, problem, resolveForm(alert), noteForm(alert, item));
  return item;
}

function button(text, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

async function act(alert, path, body) {
  const updated = await api(`risk-alerts/${alert.id}/${path}`, { method: "POST", body });
  upsert(updated);
  return updated;
}

function resolveForm(alert) {
  const form = document.createElement("form");
  form.className = "stack";
  form.noValidate = true;
  const selectId = `resolution-${alert.id}`;
  const noteId = `resolution-note-${alert.id}`;
  const errorId = `resolve-error-${alert.id}`;
  form.innerHTML = `<label for="${selectId}">Outcome</label><select id="${selectId}" aria-describedby="${errorId}"><option value="">Choose the outcome…</option></select><label for="${noteId}">Resolution note (optional)</label><textarea id="${noteId}" rows="2" dir="auto"></textarea><p id="${errorId}" class="error" role="alert" hidden></p><button type="submit">Resolve</button>`;
  const select = form.querySelector("select");
  for (const [value, text] of RESOLUTIONS) select.append(new Option(text, value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".error");
    if (!select.value) {
      showError(error, "Choose the outcome first.");
      select.focus();
      return;
    }
    try {
      await act(alert, "resolve/", { resolution: select.value, note: form.querySelector("textarea").value });
      announcer.textContent = "Alert resolved.";
      document.getElementById("alerts-title").focus();
    } catch (failure) {
      showError(error, failure.message);
    }
  });
  return form;
}

function noteForm(alert, item) {
  const form = document.createElement("form");
  form.className = "stack";
  form.noValidate = true;
  const inputId = `alert-note-${alert.id}`;
  const errorId = `alert-note-error-${alert.id}`;
  form.innerHTML = `<label for="${inputId}">Add a note</label><textarea id="${inputId}" rows="2" dir="auto" aria-describedby="${errorId}"></textarea><p id="${errorId}" class="error" role="alert" hidden></p><button type="submit" class="secondary">Save note</button>`;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.querySelector("textarea");
    const error = form.querySelector(".error");
    if (!input.value.trim()) {
      showError(error, "Write the note first.");
      input.focus();
      return;
    }
    try {
      await api(`risk-alerts/${alert.id}/notes/`, { method: "POST", body: { body: input.value } });
      input.value = "";
      showError(error, "");
      await showNotes(alert, item);
    } catch (failure) {
      showError(error, failure.message);
    }
  });
  return form;
}

async function showNotes(alert, item) {
  const detail = await api(`risk-alerts/${alert.id}/`);
  let list = item.querySelector(".notes-list");
  if (!list) {
    list = document.createElement("ul");
    list.className = "notes-list";
    list.setAttribute("aria-label", "Notes");
    item.querySelector(".actions").after(list);
  }
  const notes = detail.notes.map((note) => {
    const entry = document.createElement("li");
    entry.dir = "auto";
    entry.textContent = `${note.author.display_name} · ${formatTime(note.created_at)}: ${note.body}`;
    return entry;
  });
  if (!notes.length) {
    const none = document.createElement("li");
    none.textContent = "No notes yet.";
    notes.push(none);
  }
  list.replaceChildren(...notes);
}

async function loadNames() {
  const conversations = await api("conversations/").catch(() => []);
  for (const row of conversations) names.set(row.id, row.participant.display_name);
}

async function refreshAlerts() {
  const fresh = await api("risk-alerts/").catch(() => null);
  if (fresh === null) return;
  alerts.clear();
  for (const alert of fresh) {
    if (alert.status !== "resolved" && (!alert.programme || alert.programme === programme)) {
      alerts.set(alert.id, alert);
    }
  }
  render();
  scheduleWorkload();
}

const workloadProblem = document.createElement("p");
workloadProblem.className = "error";
workloadProblem.hidden = true;
document.getElementById("workload").closest("section").prepend(workloadProblem);

let workloadTimer = null;
function scheduleWorkload() {
  clearTimeout(workloadTimer);
  workloadTimer = setTimeout(refreshWorkload, 500);
}

function refreshWorkload() {
  return loadWorkload().then(
    () => showError(workloadProblem, ""),
    (failure) => showError(workloadProblem, `The workload could not be loaded: ${failure.message}`),
  );
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function emptyRow(columns, text) {
  const tr = document.createElement("tr");
  const td = cell(text);
  td.colSpan = columns;
  td.className = "note";
  tr.append(td);
  return [tr];
}

async function loadWorkload() {
  const [workload, waiting] = await Promise.all([
    api(`programmes/${programme}/workload/`),
    api(`programmes/${programme}/waiting/`),
  ]);
  const peers = workload.peer_supporters;
  document.querySelector("#workload tbody").replaceChildren(
    ...(peers.length ? [] : emptyRow(7, "No peer supporters on your team yet.")),
    ...peers.map((row) => {
      const tr = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = row.peer_supporter.display_name;
      tr.append(
        name,
        cell(row.on_duty ? "Yes" : "No"),
        cell(row.capacity ? `${row.active_caseload} of ${row.capacity}` : String(row.active_caseload)),
        cell(String(row.unread)),
        cell(row.median_first_response_minutes == null ? "–" : String(row.median_first_response_minutes)),
        cell(String(row.messages_per_week)),
        cell(String(row.messages_outside_working_hours)),
      );
      return tr;
    }),
  );
  document.getElementById("waiting-count").textContent = `(${waiting.length})`;
  document.querySelector("#waiting tbody").replaceChildren(
    ...(waiting.length ? [] : emptyRow(4, "Nobody is waiting.")),
    ...waiting.map((row) => {
      const tr = document.createElement("tr");
      const hours = Math.floor(row.waited_seconds / 3600);
      const minutes = Math.floor((row.waited_seconds % 3600) / 60);
      tr.append(cell(row.site), cell(row.language), cell(hours ? `${hours} h ${minutes} min` : `${minutes} min`), cell(row.previously_assigned ? "Yes" : "No"));
      return tr;
    }),
  );
}

if (picker) {
  picker.addEventListener("change", async () => {
    programme = picker.value;
    await refreshAlerts();
    await refreshWorkload();
  });
}

async function start() {
  await loadNames();
  await refreshAlerts();
  await refreshWorkload();
  started = true;
  live.start();
  setInterval(refreshWorkload, 60000);
}

start().catch((error) => {
  announcer.textContent = error.message;
});
