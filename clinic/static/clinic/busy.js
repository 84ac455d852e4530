/* One request per press: a form's submit buttons show a busy state and are disabled
   while its request runs, so a double click sends the form once.
   - A plain form: the first submit marks the form busy; any further submit is dropped
     until the page is left (or shown again from the back/forward cache). The buttons
     are disabled just after the submit, so the pressed button's name and value are
     still sent.
   - An htmx request (a form or a button with hx-post/hx-get): its buttons are disabled
     from htmx:beforeRequest (the values are gathered by then) to htmx:afterRequest. */
(function () {
  "use strict";
  function buttons(elt) {
    if (elt.matches("button, input[type=submit]")) return [elt];
    return Array.from(elt.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]"));
  }
  function busy(elt, on) {
    elt.toggleAttribute("aria-busy", on);
    buttons(elt).forEach((b) => { b.disabled = on; b.classList.toggle("busy", on); });
  }
  function isHtmx(form) {
    return form.matches("[hx-post], [hx-get], [hx-put], [hx-delete], [data-hx-post], [data-hx-get]");
  }
  document.addEventListener("submit", (evt) => {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement) || isHtmx(form)) return;
    if (form.dataset.busy) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
      return;
    }
    form.dataset.busy = "1";
    setTimeout(() => { if (!evt.defaultPrevented) busy(form, true); else delete form.dataset.busy; }, 0);
  }, true);
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-busy]").forEach((f) => { delete f.dataset.busy; busy(f, false); });
  });
  document.addEventListener("htmx:beforeRequest", (evt) => busy(evt.detail.elt, true));
  document.addEventListener("htmx:afterRequest", (evt) => {
    if (evt.detail.elt.isConnected) busy(evt.detail.elt, false);
  });
})();
