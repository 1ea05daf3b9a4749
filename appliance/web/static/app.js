// Keeps the handset cells up to date from the server-sent status events.
"use strict";
(function () {
  if (!window.EventSource) return;
  var events = new EventSource("/events");
  events.onmessage = function (e) {
    var status = JSON.parse(e.data);
    (status.handsets || []).forEach(function (h) {
      var row = document.querySelector('#handsets tr[data-index="' + h.index + '"]');
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
      var form = row.querySelector("form");
      if (form) {
        form.querySelector('input[name="offhook"]').value = h.offHook ? "0" : "1";
        var button = form.querySelector("button");
        button.textContent = h.offHook ? "Replace" : "Lift";
        button.setAttribute("aria-label", button.textContent + " " + h.name);
      }
    });
  };
})();
