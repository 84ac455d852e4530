/* The idle sign-out warning. The server ends a session after data-idle-seconds without a
   request (clinic/sessions.py); a page's own poll (X-Poll) does not count. This timer
   starts at page load and again after every request that counts (an htmx request other
   than a poll, or "stay signed in"); a minute before the end it shows the warning, and at
   the end it reloads the page, which the server answers with the sign-in.
   Nothing is polled: "stay signed in" sends one POST to data-keep-alive. */
(function () {
  "use strict";
  const WARN_BEFORE_MS = 60 * 1000;
  let warnTimer = null, endTimer = null, tick = null;
  function dialog() { return document.getElementById("idle-warning"); }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }
  function hide() {
    const d = dialog();
    if (d && d.open) d.close();
    clearInterval(tick);
  }
  function warn(endsAt) {
    const d = dialog();
    if (!d) return;
    const counter = d.querySelector("[data-idle-countdown]");
    const show = () => { counter.textContent = Math.max(0, Math.round((endsAt - Date.now()) / 1000)); };
    show();
    tick = setInterval(show, 1000);
    if (!d.open) d.showModal();
  }
  function restart() {
    const idleMs = Number(document.body.dataset.idleSeconds) * 1000;
    if (!idleMs) return;
    clearTimeout(warnTimer); clearTimeout(endTimer); hide();
    const endsAt = Date.now() + idleMs;
    warnTimer = setTimeout(() => warn(endsAt), Math.max(0, idleMs - WARN_BEFORE_MS));
    endTimer = setTimeout(() => { hide(); window.location.reload(); }, idleMs + 1000);
  }
  function stay() {
    fetch(document.body.dataset.keepAlive, {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() },
    }).then((r) => { if (r.status === 204) restart(); else window.location.reload(); },
            () => window.location.reload());
  }
  document.addEventListener("DOMContentLoaded", () => {
    const d = dialog();
    if (d) {
      d.querySelector("[data-idle-stay]").addEventListener("click", stay);
      d.querySelector("[data-idle-leave]").addEventListener("click", () => {
        const form = document.getElementById("sign-out");
        if (form) form.submit(); else window.location.reload();
      });
      d.addEventListener("cancel", (evt) => { evt.preventDefault(); stay(); });  // Esc: stay
    }
    restart();
  });
  document.addEventListener("htmx:afterRequest", (evt) => {
    const headers = evt.detail.requestConfig ? evt.detail.requestConfig.headers : {};
    if (headers["X-Poll"] !== "1") restart();
  });
})();
