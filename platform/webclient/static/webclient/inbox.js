// The peer supporter's caseload: conversations newest first with unread counts, the person's
// channel and open risk alerts; one conversation at a time beside it (below it on a phone),
// with saved replies and case notes. Supervisors use the same page to review a conversation
// (read-only; the server audits the read).
import { api, formatTime, showError, signOutButtons } from "./api.js";
import { backInto, composer } from "./composer.js";
import { LiveSocket } from "./live.js";
import { Thread } from "./thread.js";

signOutButtons();
const viewer = Number(document.body.dataset.viewer);
const workspace = document.querySelector(".workspace");
const listElement = document.getElementById("conversations");
const pane = document.getElementById("conversation");
const title = document.getElementById("conversation-title");
const meta = document.getElementById("conversation-meta");
const composerArea = document.getElementById("composer-area");
const readOnly = document.getElementById("read-only");
const textarea = document.getElementById("body");
const savedReplies = document.getElementById("saved-replies");
const warning = document.getElementById("boundary-warning");
const notesPanel = document.getElementById("notes-panel");

const rows = new Map(); // conversation id -> its row from GET conversations/
const threads = new Map(); // conversation id -> Thread (kept, so pending sends finish)
const alerting = new Set(); // conversations with an unresolved risk alert
let current = null;
let refreshTimer = null;

const CHANNEL = { web: "Web chat", sms: "SMS" };

const live = new LiveSocket({
  banner: document.getElementById("connection"),
  onOpen: () => {
    scheduleRefresh(0);
    for (const thread of threads.values()) thread.onOpen();
  },
  onFrame: (frame) => {
    if (frame.type === "alert") {
      noteAlert(frame.alert);
      return;
    }
    for (const thread of threads.values()) thread.handle(frame);
    if (frame.type === "message") activity(frame.message);
  },
});

function scheduleRefresh(delay = 300) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refreshList().catch(() => {}), delay);
}

async function refreshList() {
  const fresh = await api("conversations/");
  rows.clear();
  for (const row of fresh) rows.set(row.id, row);
  if (current) {
    const open = rows.get(current.conversation);
    if (open) open.unread = 0;
  }
  renderList(fresh.map((row) => row.id));
}

function renderList(order) {
  // Rows are rebuilt as messages arrive: keyboard focus stays on the row it was on.
  const focused = listElement.contains(document.activeElement)
    ? document.activeElement.closest("li").dataset.id
    : null;
  const items = order.filter((id) => rows.has(id)).map((id) => renderRow(rows.get(id)));
  listElement.replaceChildren(...items);
  document.getElementById("caseload-empty").hidden = items.length > 0;
  if (focused) {
    const again = listElement.querySelector(`li[data-id="${focused}"] button`);
    if (again) again.focus();
  }
}

function renderRow(row) {
  const item = document.createElement("li");
  item.dataset.id = row.id;
  const button = document.createElement("button");
  button.type = "button";
  if (current && current.conversation === row.id) button.setAttribute("aria-current", "true");
  const first = document.createElement("span");
  first.className = "line";
  const name = document.createElement("span");
  name.className = "name";
  name.dir = "auto";
  name.textContent = row.participant.display_name;
  const channel = document.createElement("span");
  channel.className = `badge ${row.participant.preferred_channel}`;
  channel.textContent = CHANNEL[row.participant.preferred_channel] || row.participant.preferred_channel;
  first.append(name, channel);
  if (alerting.has(row.id)) {
    const alert = document.createElement("span");
    alert.className = "badge automated";
    alert.textContent = "Risk alert";
    first.append(alert);
  }
  if (row.unread > 0) {
    const unread = document.createElement("span");
    unread.className = "badge unread";
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " unread";
    unread.append(String(row.unread), hidden);
    first.append(unread);
  }
  const second = document.createElement("span");
  second.className = "line";
  if (row.preview) {
    const preview = document.createElement("span");
    preview.className = "preview";
    preview.dir = "auto";
    preview.textContent = row.preview;
    second.append(preview);
  }
  if (row.last_message_at) {
    const time = document.createElement("time");
    time.className = "note";
    time.dateTime = row.last_message_at;
    time.textContent = formatTime(row.last_message_at);
    second.append(time);
  }
  if (!row.can_post) {
    const review = document.createElement("span");
    review.className = "note";
    review.textContent = row.peer_supporter ? `with ${row.peer_supporter.display_name}` : "waiting";
    second.append(review);
  }
  button.append(first, second);
  button.addEventListener("click", () => open(row.id));
  item.append(button);
  return item;
}

// A message on any conversation of the caseload: it moves to the top, unread goes up unless
// it is the one on screen.
function activity(message) {
  const row = rows.get(message.conversation);
  if (!row) {
    scheduleRefresh(); // a new assignment: the server's list has it
    return;
  }
  if (message.seq <= row.last_seq) return;
  row.last_seq = message.seq;
  row.last_message_at = message.created_at;
  row.preview = message.body.slice(0, 80);
  const onScreen = current && current.conversation === row.id && document.visibilityState === "visible";
  if (!onScreen && message.sender.id !== viewer) row.unread += 1;
  const order = [...rows.keys()].filter((id) => id !== row.id);
  renderList([row.id, ...order]);
}

function noteAlert(alert) {
  if (!alert.conversation) return;
  if (alert.status === "resolved") alerting.delete(alert.conversation);
  else alerting.add(alert.conversation);
  if (rows.has(alert.conversation)) renderList([...listElement.children].map((li) => li.dataset.id));
}

async function open(id, { push = true } = {}) {
  const row = rows.get(id);
  if (!row) return;
  if (push) history.pushState({ conversation: id }, "", `?conversation=${id}`);
  let thread = threads.get(id);
  if (!thread) {
    const list = document.createElement("ol");
    list.className = "message-list";
    thread = new Thread({
      conversation: id,
      list,
      viewer,
      live,
      canPost: row.can_post,
      onWarning: (held) => held === current && showWarning(held),
      onEdit: backInto(textarea),
    });
    try {
      await thread.loadLatest();
    } catch (error) {
      meta.textContent = error.message;
      return;
    }
    threads.set(id, thread);
    if (live.isOpen) thread.onOpen();
  }
  if (current) current.active = false;
  current = thread;
  thread.active = true;
  document.getElementById("messages").replaceWith(thread.list);
  thread.list.id = "messages";
  workspace.classList.add("open");
  pane.hidden = false;
  title.textContent = row.participant.display_name;
  title.dir = "auto";
  const channel = CHANNEL[row.participant.preferred_channel] || row.participant.preferred_channel;
  meta.textContent = row.can_post
    ? `Replies reach them by ${channel}.`
    : `Reviewing: ${row.peer_supporter ? row.peer_supporter.display_name : "no peer supporter yet"}.`;
  composerArea.hidden = !row.can_post;
  readOnly.hidden = row.can_post;
  notesPanel.open = false;
  document.getElementById("notes").replaceChildren();
  if (thread.heldWarning) showWarning(thread);
  else warning.hidden = true;
  row.unread = 0;
  renderList([...listElement.children].map((li) => li.dataset.id));
  if (row.can_post) loadSavedReplies(row.programme);
  thread.scrollToEnd();
  thread.markRead();
  title.focus();
}

// A held message (contact details) belongs to its conversation: its warning shows whenever
// that conversation is on screen, until the peer supporter decides.
function showWarning(thread) {
  document.getElementById("boundary-text").textContent = thread.heldWarning.detail;
  warning.hidden = false;
  document.getElementById("boundary-send").focus();
}

document.getElementById("boundary-send").addEventListener("click", () => {
  if (current && current.heldWarning) current.confirmHeld(current.heldWarning.clientId);
  warning.hidden = true;
  textarea.focus();
});
document.getElementById("boundary-edit").addEventListener("click", () => {
  const body = current && current.heldWarning ? current.discard(current.heldWarning.clientId) : null;
  warning.hidden = true;
  backInto(textarea)(body);
});

const repliesByProgramme = new Map();
async function loadSavedReplies(programme) {
  if (!repliesByProgramme.has(programme)) {
    try {
      repliesByProgramme.set(programme, await api(`saved-replies/?programme=${encodeURIComponent(programme)}`));
    } catch {
      repliesByProgramme.set(programme, []);
    }
  }
  const options = repliesByProgramme.get(programme).map((reply) => {
    const option = document.createElement("option");
    option.value = String(reply.id);
    option.textContent = reply.title;
    option.dataset.body = reply.body;
    return option;
  });
  const placeholder = new Option("Choose a saved reply…", "");
  savedReplies.replaceChildren(placeholder, ...options);
}
// An explicit button: a select's change fires on every arrow key in some browsers.
document.getElementById("insert-reply").addEventListener("click", () => {
  const option = savedReplies.selectedOptions[0];
  if (option && option.dataset.body) {
    textarea.value = textarea.value ? `${textarea.value}\n${option.dataset.body}` : option.dataset.body;
    savedReplies.value = "";
    textarea.focus();
  }
});

composer({
  form: document.getElementById("composer"),
  textarea,
  error: document.getElementById("composer-error"),
  onSend: (body) => (current && current.canPost ? current.send(body) : false),
});

// Case notes are read only when asked for: every listing is audited.
notesPanel.addEventListener("toggle", async () => {
  if (!notesPanel.open || !current) return;
  const notes = await api(`conversations/${current.conversation}/notes/`).catch(() => []);
  document.getElementById("notes").replaceChildren(...notes.map(renderNote));
});

function renderNote(note) {
  const item = document.createElement("li");
  const head = document.createElement("div");
  head.className = "note";
  const author = note.author && note.author.display_name ? note.author.display_name : "";
  head.textContent = `${author} · ${formatTime(note.created_at)}`;
  const body = document.createElement("div");
  body.dir = "auto";
  body.textContent = note.body;
  item.append(head, body);
  return item;
}

document.getElementById("note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("note-body");
  const error = document.getElementById("note-error");
  if (!input.value.trim()) {
    showError(error, "Write the note first.");
    input.focus();
    return;
  }
  try {
    const note = await api(`conversations/${current.conversation}/notes/`, { method: "POST", body: { body: input.value } });
    document.getElementById("notes").prepend(renderNote(note));
    input.value = "";
    showError(error, "");
  } catch (failure) {
    showError(error, failure.message);
  }
});

document.getElementById("back").addEventListener("click", () => {
  workspace.classList.remove("open");
  pane.hidden = true;
  if (current) current.active = false;
  current = null;
  history.pushState({}, "", window.location.pathname);
  const first = listElement.querySelector("button");
  if (first) first.focus();
});
window.addEventListener("popstate", () => {
  const id = new URLSearchParams(window.location.search).get("conversation");
  if (id && rows.has(id)) open(id, { push: false });
});
document.addEventListener("visibilitychange", () => current && current.markRead());

async function showDuty() {
  const duty = document.getElementById("duty");
  try {
    const availability = await api("me/availability/");
    const next = availability.next_on_duty ? new Date(availability.next_on_duty) : null;
    const onDuty = next !== null && next.getTime() <= Date.now() + 60000;
    duty.classList.toggle("off", !onDuty);
    duty.textContent = onDuty
      ? "On duty"
      : next
        ? `Off duty until ${formatTime(availability.next_on_duty)}: people get an automatic reply saying when you are back.`
        : "Off duty: no working hours set.";
  } catch {
    duty.textContent = "";
  }
}

async function start() {
  await refreshList();
  const alerts = await api("risk-alerts/").catch(() => []);
  for (const alert of alerts) noteAlert(alert);
  showDuty();
  setInterval(showDuty, 60000);
  live.start();
  const wanted = new URLSearchParams(window.location.search).get("conversation");
  if (wanted && rows.has(wanted)) await open(wanted, { push: false });
}

start().catch((error) => {
  document.getElementById("caseload-empty").hidden = false;
  document.getElementById("caseload-empty").textContent = error.message;
});
