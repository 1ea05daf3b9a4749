// The admin page's script: handset cells kept up to date from the
// server-sent status events, virtual hooks moved without reloading the
// page, and a question before anything is deleted. Every page works
// without it.
"use strict";
(function () {
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (e) {
      if (!window.confirm(button.dataset.confirm)) e.preventDefault();
    });
  });

  var table = document.getElementById("handsets");
  if (!table) return;
  var problem = document.getElementById("live-problem");
  var show = function (text) {
    problem.textContent = text;
    problem.hidden = !text;
  };

  table.querySelectorAll("form.hook").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      }).then(function (res) {
        if (res.ok) return show("");
        return res.json().then(
          function (body) { show(body.error); },
          function () { show("Could not move the hook (HTTP " + res.status + ")."); });
      }, function () {
        show("Could not reach the appliance.");
      });
    });
  });

  if (!window.EventSource) return;
  var events = new EventSource("/events");
  events.onerror = function () {
    if (events.readyState === EventSource.CLOSED) show("Live updates stopped: reload the page.");
  };
  events.onmessage = function (e) {
    var status = JSON.parse(e.data);
    (status.handsets || []).forEach(function (h) {
      var row = table.querySelector('tr[data-index="' + h.index + '"]');
      if (!row) return;
      var set = function (field, text) {
        var cell = row.querySelector('[data-field="' + field + '"]');
        if (cell) cell.textContent = text;
      };
      set("state", h.state);
      set("identity", h.identity);
      set("conference", h.conference);
      set("detail", h.detail);
      set("led", h.led);
      set("hook", h.offHook ? "off hook" : "on hook");
      var form = row.querySelector("form.hook");
      if (form) {
        form.querySelector('input[name="offhook"]').value = h.offHook ? "0" : "1";
        var button = form.querySelector("button");
        button.textContent = h.offHook ? "Replace" : "Lift";
        button.setAttribute("aria-label", button.textContent + " " + h.name);
      }
    });
  };
})();
