// Service users: phone -> code by SMS -> session. Staff: username and password -> session.
// After signing in, a full page load: Django rotates the CSRF token at login.
import { api, localPath, showError } from "./api.js";

const next = new URLSearchParams(window.location.search).get("next");

function busy(form, on) {
  for (const button of form.querySelectorAll("button")) button.disabled = on;
}

const phoneForm = document.getElementById("phone-form");
if (phoneForm) {
  const codeForm = document.getElementById("code-form");
  const phone = document.getElementById("phone");
  const code = document.getElementById("code");
  const phoneError = document.getElementById("phone-error");
  const codeError = document.getElementById("code-error");

  phoneForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!phone.value.trim()) {
      showError(phoneError, "Enter your mobile number.");
      phone.setAttribute("aria-invalid", "true");
      phone.focus();
      return;
    }
    busy(phoneForm, true);
    try {
      await api("auth/sms-code/", { method: "POST", body: { phone: phone.value.trim() } });
      showError(phoneError, "");
      phone.removeAttribute("aria-invalid");
      phoneForm.hidden = true;
      codeForm.hidden = false;
      code.focus();
    } catch (error) {
      showError(phoneError, error.message);
      phone.setAttribute("aria-invalid", "true");
      phone.focus();
    } finally {
      busy(phoneForm, false);
    }
  });

  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!code.value.trim()) {
      showError(codeError, "Enter the code from the text message.");
      code.focus();
      return;
    }
    busy(codeForm, true);
    try {
      await api("auth/sms-code/verify/", {
        method: "POST",
        body: { phone: phone.value.trim(), code: code.value.trim() },
      });
      window.location.assign(localPath(next, "/chat/"));
    } catch (error) {
      showError(codeError, error.message);
      code.setAttribute("aria-invalid", "true");
      code.focus();
      busy(codeForm, false);
    }
  });

  document.getElementById("restart").addEventListener("click", () => {
    codeForm.hidden = true;
    phoneForm.hidden = false;
    code.value = "";
    showError(codeError, "");
    phone.focus();
  });
}

const staffForm = document.getElementById("staff-form");
if (staffForm) {
  const username = document.getElementById("username");
  const password = document.getElementById("password");
  const error = document.getElementById("staff-error");
  staffForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!username.value.trim() || !password.value) {
      showError(error, "Enter your username and password.");
      (username.value.trim() ? password : username).focus();
      return;
    }
    busy(staffForm, true);
    try {
      await api("auth/login/", {
        method: "POST",
        body: { username: username.value.trim(), password: password.value },
      });
      window.location.assign(localPath(next, "/"));
    } catch (failure) {
      showError(error, failure.message);
      password.value = "";
      password.focus();
      busy(staffForm, false);
    }
  });
}
