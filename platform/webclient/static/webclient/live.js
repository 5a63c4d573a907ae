// One WebSocket at /ws/ (docs/websocket.md): reconnects with backoff and jitter, closes itself
// when the browser goes offline or the server stops answering pings, and tells the page
// (onOpen) so that it can sync every conversation from its last seq and resend what is
// pending. The socket is a doorbell: the page never trusts it to have delivered everything.

const BACKOFF_MAX_MS = 30000;
const PING_EVERY_MS = 20000;
// Two pings without any frame back: the connection is dead even if the browser hasn't noticed.
const SILENCE_LIMIT_MS = 2 * PING_EVERY_MS + 5000;

const MESSAGES = {
  connecting: "Connecting…",
  reconnecting: "Connection lost. Reconnecting… Nothing you write is lost: it is sent when the connection is back.",
  offline: "You are offline. Nothing you write is lost: it is sent when the connection is back.",
  signed_out: "You have been signed out. Reload the page to sign in again.",
};

export class LiveSocket {
  constructor({ onFrame, onOpen, banner }) {
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.banner = banner;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastFrameAt = 0;
    this.everOpen = false;
    this.state = "connecting";
  }

  start() {
    window.addEventListener("offline", () => {
      this.drop();
      this.setState("offline");
    });
    window.addEventListener("online", () => {
      this.attempt = 0;
      this.connect();
    });
    this.connect();
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.ws !== null || this.state === "signed_out") return;
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}/ws/`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.lastFrameAt = Date.now();
      this.startHeartbeat();
      this.setState("live");
      this.onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopHeartbeat();
      if (event.code === 4401) {
        this.setState("signed_out");
        return;
      }
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    const ceiling = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.setState("reconnecting");
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  drop() {
    const ws = this.ws;
    this.ws = null;
    this.stopHeartbeat();
    clearTimeout(this.retryTimer);
    if (ws !== null) ws.close();
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
        this.drop();
        this.scheduleReconnect();
        return;
      }
      this.send({ type: "ping" });
    }, PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  setState(state) {
    const wasDown = this.state !== "live";
    this.state = state;
    document.body.dataset.connection = state;
    if (!this.banner) return;
    if (state === "live") {
      if (this.everOpen && wasDown) {
        this.banner.textContent = "Connected again.";
        this.banner.classList.add("ok");
        this.banner.hidden = false;
        setTimeout(() => {
          if (this.state === "live") this.banner.hidden = true;
        }, 3000);
      } else {
        this.banner.hidden = true;
      }
      this.everOpen = true;
      return;
    }
    this.banner.classList.remove("ok");
    this.banner.textContent = MESSAGES[state];
    // The first "connecting" is not news; a lost connection is.
    this.banner.hidden = state === "connecting";
  }
}
