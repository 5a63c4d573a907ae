// The message box: Send button, Ctrl+Enter (or Cmd+Enter) to send, a clear error for empty
// or too long text. Enter alone makes a new line, as people expect on a phone.
import { showError } from "./api.js";

export const MAX_BODY = 4000;

export function composer({ form, textarea, error, onSend }) {
  const submit = () => {
    const body = textarea.value;
    if (!body.trim()) {
      showError(error, "Write a message first.");
      textarea.setAttribute("aria-invalid", "true");
      textarea.focus();
      return;
    }
    if (body.length > MAX_BODY) {
      showError(error, `A message holds at most ${MAX_BODY} characters.`);
      textarea.focus();
      return;
    }
    showError(error, "");
    textarea.removeAttribute("aria-invalid");
    if (onSend(body) !== false) {
      textarea.value = "";
      textarea.focus();
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
}

// A refused or held message the writer chose to edit: its text back in the box.
export function backInto(textarea) {
  return (body) => {
    if (body !== null) textarea.value = body;
    textarea.focus();
  };
}
