// The REST API under /api/v1/ (README, "REST API"), with the session cookie and CSRF token a
// browser on our origin uses. Errors come back as {code, message}: ApiError carries both.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "No connection. Check your network and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (data && (data.message || data.detail)) || `Something went wrong (${response.status}).`;
    throw new ApiError(response.status, (data && data.code) || "http_error", message);
  }
  return data;
}

// Only a page of this site: never an address someone put in ?next= to send people elsewhere
// (the URL parser, not a pattern, decides: browsers drop tabs and turn "\" into "/").
export function localPath(candidate, fallback) {
  if (typeof candidate !== "string" || !candidate.startsWith("/")) return fallback;
  try {
    const url = new URL(candidate, window.location.origin);
    return url.origin === window.location.origin ? url.pathname + url.search + url.hash : fallback;
  } catch {
    return fallback;
  }
}

// Unsent messages wait in this tab's sessionStorage; signing out takes them away (a phone
// may be shared).
export function forgetPendingMessages() {
  try {
    for (const key of Object.keys(window.sessionStorage)) {
      if (key.startsWith("peerlink.pending.")) window.sessionStorage.removeItem(key);
    }
  } catch {
    // Storage refused: there is nothing kept to forget.
  }
}

export function signOutButtons() {
  for (const button of document.querySelectorAll('[data-action="sign-out"]')) {
    button.addEventListener("click", async () => {
      forgetPendingMessages();
      try {
        await api("auth/logout/", { method: "POST" });
      } finally {
        window.location.assign("/");
      }
    });
  }
}

export function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

export function formatTime(iso) {
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  return sameDay
    ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : when.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}
