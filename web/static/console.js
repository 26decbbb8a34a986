// printstation web console: live updates without reloading, and small conveniences.
// Every 2 s the page asks /api/changes whether the journal (or the daemon's report on its
// printers) moved since the page was drawn; if it did, the page is fetched again and each
// element marked data-live is swapped for its new version. No framework, no CDN.
"use strict";

(function () {
  const POLL_MS = 2000;
  const body = document.body;
  let seq = Number(body.dataset.seq || 0);
  let daemon = null;
  let busy = false;

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  // Any request a script sends carries the token (POSTs without it are refused).
  window.printstationFetch = function (url, options) {
    options = options || {};
    options.headers = Object.assign({"X-CSRF-Token": csrfToken(),
                                     "X-Requested-With": "fetch"}, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options);
  };

  function busyWith(element) {
    // A clerk ticking boxes or typing in a region must not lose it to a refresh.
    return element.querySelector("input:checked") !== null ||
      element.contains(document.activeElement) && document.activeElement !== document.body;
  }

  async function refresh() {
    const answer = await window.printstationFetch(location.href);
    if (!answer.ok) return;
    const html = new DOMParser().parseFromString(await answer.text(), "text/html");
    let held = false;
    document.querySelectorAll("[data-live][id]").forEach(function (old) {
      const fresh = html.getElementById(old.id);
      if (!fresh) return;
      if (busyWith(old)) { held = true; return; }
      old.replaceWith(document.importNode(fresh, true));
    });
    const stale = document.getElementById("stale");
    if (stale) stale.hidden = !held;
  }

  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const url = body.dataset.changes + "?since=" + encodeURIComponent(seq);
      const answer = await window.printstationFetch(url, {headers: {"Accept": "application/json"}});
      if (!answer.ok) return;
      const found = await answer.json();
      if (found.counts) {
        Object.keys(found.counts).forEach(function (state) {
          const cell = document.getElementById("count-" + state);
          if (cell) cell.textContent = found.counts[state];
        });
      }
      const moved = found.seq !== seq || (daemon !== null && found.daemon !== daemon);
      seq = found.seq;
      daemon = found.daemon;
      body.dataset.seq = seq;
      if (moved) await refresh();
      const live = document.getElementById("live-status");
      if (live) live.hidden = false;
    } catch (err) {
      const live = document.getElementById("live-status");
      if (live) live.hidden = true;
    } finally {
      busy = false;
    }
  }

  function calibration() {
    const form = document.getElementById("offset-form");
    const picture = document.getElementById("calibration-picture");
    const preview = document.getElementById("offset-preview");
    if (!form || !picture || !preview) return;
    preview.addEventListener("click", function () {
      const x = document.getElementById("offset-x").value || "0";
      const y = document.getElementById("offset-y").value || "0";
      picture.src = form.dataset.picture + "&x=" + encodeURIComponent(x) +
        "&y=" + encodeURIComponent(y);
    });
    const printer = document.getElementById("cal-printer");
    if (printer) printer.addEventListener("change", function () { printer.form.submit(); });
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    calibration();
    confirmations();
    setInterval(poll, POLL_MS);
    poll();
  });
})();
