// One conversation on screen, kept gap-free and duplicate-free by the rules of
// docs/websocket.md ("Never lose, never double"): messages by id, ordered by seq; `lastSeq` is
// the highest seq shown without a gap; a gap asks for `sync`; a sent message stays pending
// (with its client_id, kept in sessionStorage so a reload does not lose it) until its `ack`.
import { api, formatTime } from "./api.js";

const DELIVERY_RANK = { pending: 0, queued: 1, sending: 2, sent: 3, delivered: 4, undelivered: 4, failed: 4, not_sent: 4 };
const DELIVERY_TEXT = {
  pending: "SMS: waiting to send",
  queued: "SMS: queued",
  sending: "SMS: sending",
  sent: "SMS: sent",
  delivered: "SMS: delivered",
  undelivered: "SMS: not delivered",
  failed: "SMS: failed",
  not_sent: "SMS: not sent (opted out)",
};
const PROBLEM = new Set(["undelivered", "failed", "not_sent"]);
const RETRY_LATER_MS = 5000;
// Refusals that sending again cannot fix: the text itself must change.
const NEEDS_EDIT = new Set(["empty_body", "body_too_long", "too_long_for_sms", "invalid_frame"]);

function newClientId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  return `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class Thread {
  constructor({ conversation, list, viewer, live, canPost = true, onWarning = () => {}, onActivity = () => {}, onEdit = () => {} }) {
    this.conversation = conversation;
    this.list = list;
    this.viewer = viewer;
    this.live = live;
    this.canPost = canPost;
    this.onWarning = onWarning;
    this.onActivity = onActivity;
    this.onEdit = onEdit;
    // Only the conversation on screen moves the read marker (inbox.js keeps others open).
    this.active = true;
    this.heldWarning = null;
    this.retryTimer = null;
    this.byId = new Map();
    this.seqs = new Set();
    this.lastSeq = 0;
    this.readSent = 0;
    this.syncing = false;
    this.firstSeq = null;
    this.storageKey = `peerlink.pending.${conversation}`;
    // After a reload every pending message is sent again: a held or refused one gets its
    // warning or error back from the server, rather than sitting there with neither.
    this.pending = new Map(this.loadPending().map(({ held, failed, ...p }) => [p.client_id, p]));
    this.list.replaceChildren();
  }

  // --- history -------------------------------------------------------------------------
  async loadLatest() {
    const page = await api(`conversations/${this.conversation}/messages/`);
    this.nextBeforeSeq = page.next_before_seq;
    for (const message of page.messages) this.apply(message, { quiet: true });
    // The newest page is contiguous up to the conversation's last seq when it was read.
    this.lastSeq = Math.max(this.lastSeq, ...page.messages.map((m) => m.seq), 0);
    for (const pending of this.pending.values()) this.renderPending(pending);
    this.renderEarlierButton();
    this.scrollToEnd();
    return page;
  }

  async loadEarlier() {
    if (this.nextBeforeSeq == null) return;
    let page;
    try {
      page = await api(`conversations/${this.conversation}/messages/?before_seq=${this.nextBeforeSeq}`);
    } catch (error) {
      const button = this.list.querySelector("li.earlier button");
      if (button) button.textContent = `${error.message} Show earlier messages`;
      return;
    }
    this.nextBeforeSeq = page.next_before_seq;
    for (const message of page.messages) this.apply(message, { quiet: true, older: true });
    this.renderEarlierButton();
  }

  renderEarlierButton() {
    let item = this.list.querySelector("li.earlier");
    if (this.nextBeforeSeq == null) {
      if (item) item.remove();
      return;
    }
    if (!item) {
      item = document.createElement("li");
      item.className = "earlier";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = "Show earlier messages";
      button.addEventListener("click", () => this.loadEarlier());
      item.append(button);
    }
    this.list.prepend(item);
  }

  // --- the socket -------------------------------------------------------------------------
  resync() {
    this.syncing = true;
    this.live.send({ type: "sync", conversation: this.conversation, after_seq: this.lastSeq });
  }

  onOpen() {
    clearTimeout(this.retryTimer);
    this.resync();
    for (const pending of this.pending.values()) this.transmit(pending);
  }

  // Any frame from the socket: those about other conversations are ignored here.
  handle(frame) {
    const ours = (frame.conversation || (frame.message && frame.message.conversation)) === this.conversation;
    switch (frame.type) {
      case "message":
        if (ours) this.apply(frame.message);
        break;
      case "synced":
        if (!ours) break;
        this.syncing = false;
        this.lastSeq = Math.max(this.lastSeq, frame.last_seq);
        this.markRead();
        break;
      case "ack":
        this.acknowledged(frame);
        break;
      case "delivery":
        if (ours) this.delivery(frame.message, frame.status);
        break;
      case "warning":
        this.held(frame);
        break;
      case "error":
        if (frame.code === "rate_limited" && !frame.client_id) {
          // Too many frames at once (a reconnect with much to catch up): some of our syncs
          // or sends were dropped unanswered. Both are safe to repeat, a little later.
          this.syncing = false;
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.onOpen(), RETRY_LATER_MS);
        } else {
          this.refused(frame);
        }
        break;
      default:
        break;
    }
  }

  apply(message, { quiet = false, older = false, acknowledged = false } = {}) {
    const known = this.byId.get(message.id);
    if (known) {
      if (message.delivery) this.delivery(message.id, message.delivery);
      return false;
    }
    this.byId.set(message.id, { ...message });
    this.seqs.add(message.seq);
    this.insert(this.renderMessage(message), message.seq);
    if (!acknowledged && message.sender && message.sender.id === this.viewer) this.hideEchoedPending(message);
    if (!older) {
      if (message.seq === this.lastSeq + 1) {
        while (this.seqs.has(this.lastSeq + 1)) this.lastSeq += 1;
      } else if (message.seq > this.lastSeq + 1 && !quiet && !this.syncing) {
        this.resync(); // a dropped ring: fetch what is missing from the record
      }
    }
    if (!quiet) {
      this.scrollToEnd();
      this.markRead();
      this.onActivity(message);
    }
    return true;
  }

  // --- sending ----------------------------------------------------------------------------
  send(body, { confirm = false } = {}) {
    const pending = { client_id: newClientId(), body, confirm, createdAt: new Date().toISOString() };
    this.pending.set(pending.client_id, pending);
    this.savePending();
    this.renderPending(pending);
    this.scrollToEnd();
    this.transmit(pending);
    return pending.client_id;
  }

  confirmHeld(clientId) {
    this.heldWarning = null;
    const pending = this.pending.get(clientId);
    if (!pending) return;
    pending.confirm = true;
    pending.held = false;
    this.savePending();
    this.setPendingStatus(pending, "Sending…");
    this.transmit(pending);
  }

  discard(clientId) {
    if (this.heldWarning && this.heldWarning.clientId === clientId) this.heldWarning = null;
    const pending = this.pending.get(clientId);
    if (!pending) return null;
    this.pending.delete(clientId);
    this.savePending();
    if (pending.element) pending.element.remove();
    return pending.body;
  }

  transmit(pending) {
    if (pending.held || pending.failed) return;
    const frame = { type: "send", conversation: this.conversation, client_id: pending.client_id, body: pending.body };
    if (pending.confirm) frame.confirm = true;
    const sent = this.live.send(frame);
    this.setPendingStatus(pending, sent ? "Sending…" : "Waiting for the connection…");
  }

  acknowledged(frame) {
    const pending = this.pending.get(frame.client_id);
    if (pending) {
      this.pending.delete(frame.client_id);
      this.savePending();
      if (pending.element) pending.element.remove();
    }
    if (frame.message && frame.message.conversation === this.conversation) {
      this.apply(frame.message, { acknowledged: true });
    }
  }

  held(frame) {
    const pending = this.pending.get(frame.client_id);
    if (!pending) return;
    pending.held = true;
    this.savePending();
    this.setPendingStatus(pending, "Held: check the warning above", true);
    this.heldWarning = { clientId: pending.client_id, detail: frame.detail };
    this.onWarning(this);
  }

  refused(frame) {
    const pending = frame.client_id ? this.pending.get(frame.client_id) : null;
    if (!pending) return;
    if (frame.code === "rate_limited") {
      this.setPendingStatus(pending, "Sending soon…");
      setTimeout(() => this.transmit(pending), RETRY_LATER_MS);
      return;
    }
    pending.failed = true;
    this.savePending();
    this.setPendingStatus(pending, `Not sent: ${frame.detail || frame.message || frame.code}`, true);
    this.offerRetry(pending, frame.code);
  }

  markRead() {
    if (!this.active || !this.canPost || document.visibilityState !== "visible") return;
    if (this.lastSeq > this.readSent && this.live.send({ type: "read", conversation: this.conversation, seq: this.lastSeq })) {
      this.readSent = this.lastSeq;
    }
  }

  delivery(messageId, status) {
    const message = this.byId.get(messageId);
    if (!message) return;
    if (message.delivery && DELIVERY_RANK[message.delivery] >= DELIVERY_RANK[status]) return;
    message.delivery = status;
    const element = this.list.querySelector(`[data-id="${messageId}"] .status`);
    if (element) {
      element.textContent = DELIVERY_TEXT[status] || status;
      element.classList.toggle("failed", PROBLEM.has(status));
    }
  }

  // --- rendering ----------------------------------------------------------------------------
  renderMessage(message) {
    const item = document.createElement("li");
    const automated = message.channel === "automated" || message.channel === "system";
    const own = !automated && message.sender && message.sender.id === this.viewer;
    item.className = `message${own ? " own" : ""}${automated ? " automated" : ""}`;
    item.dataset.id = message.id;
    item.dataset.seq = String(message.seq);
    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "sender";
    who.textContent = own ? "You" : message.sender.display_name || "Service user";
    meta.append(who);
    if (automated) {
      const badge = document.createElement("span");
      badge.className = "badge automated";
      badge.textContent = message.channel === "system" ? "Notice" : "Automated message";
      meta.append(badge);
    } else if (message.channel === "sms") {
      const badge = document.createElement("span");
      badge.className = "badge sms";
      badge.textContent = "by SMS";
      meta.append(badge);
    }
    const time = document.createElement("time");
    time.dateTime = message.created_at;
    time.textContent = formatTime(message.created_at);
    meta.append(time);
    if (own || message.delivery) {
      const status = document.createElement("span");
      status.className = "status";
      status.textContent = message.delivery ? DELIVERY_TEXT[message.delivery] : "Sent";
      status.classList.toggle("failed", PROBLEM.has(message.delivery));
      meta.append(status);
    }
    const body = document.createElement("p");
    body.className = "body";
    body.dir = "auto";
    body.textContent = message.body;
    item.append(meta, body);
    return item;
  }

  renderPending(pending) {
    if (pending.element && pending.element.isConnected) return;
    const item = document.createElement("li");
    item.className = "message own pending";
    item.dataset.clientId = pending.client_id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.textContent = "You";
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "Sending…";
    meta.append(who, status);
    const body = document.createElement("p");
    body.className = "body";
    body.dir = "auto";
    body.textContent = pending.body;
    item.append(meta, body);
    pending.element = item;
    this.list.append(item);
  }

  setPendingStatus(pending, text, problem = false) {
    if (!pending.element) this.renderPending(pending);
    // A problem is never hidden behind a look-alike message (hideEchoedPending).
    if (problem) pending.element.hidden = false;
    const status = pending.element.querySelector(".status");
    status.textContent = text;
    status.classList.toggle("failed", problem);
  }

  offerRetry(pending, code) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    if (NEEDS_EDIT.has(code)) {
      button.textContent = "Edit";
      button.addEventListener("click", () => this.onEdit(this.discard(pending.client_id)));
    } else {
      button.textContent = "Try again";
      button.addEventListener("click", () => {
        pending.failed = false;
        this.savePending();
        button.remove();
        this.transmit(pending);
      });
    }
    pending.element.querySelector(".meta").append(button);
  }

  // The server's copy of a pending message arrived (by sync) before its ack: show it once.
  hideEchoedPending(message) {
    for (const pending of this.pending.values()) {
      if (pending.body === message.body && pending.element && !pending.element.hidden) {
        pending.element.hidden = true;
        return;
      }
    }
  }

  insert(element, seq) {
    const items = [...this.list.querySelectorAll("li[data-seq]")];
    const after = items.find((item) => Number(item.dataset.seq) > seq);
    if (after) {
      this.list.insertBefore(element, after);
    } else {
      const firstPending = this.list.querySelector("li.pending");
      this.list.insertBefore(element, firstPending);
    }
  }

  // The list sits in a scrolling live region (role="log"); keep the newest in view.
  scrollToEnd() {
    const box = this.list.parentElement;
    if (box) box.scrollTop = box.scrollHeight;
  }

  loadPending() {
    try {
      return JSON.parse(window.sessionStorage.getItem(this.storageKey) || "[]");
    } catch {
      return [];
    }
  }

  savePending() {
    const kept = [...this.pending.values()].map(({ element, ...rest }) => rest);
    try {
      if (kept.length) window.sessionStorage.setItem(this.storageKey, JSON.stringify(kept));
      else window.sessionStorage.removeItem(this.storageKey);
    } catch {
      // Storage full or refused: pending messages still live in memory until sent.
    }
  }
}
