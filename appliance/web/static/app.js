// The admin page's script: the dashboard kept up to date from the
// server-sent events (handsets, the audio device, registrations, rosters, recent events), its buttons
// posted without reloading the page, call times and expiries counted by the
// appliance's clock, a question before anything is deleted or restarted, and the
// way back once a restart is done. Every page
// works without it. Values are formatted as the server formats them
// (format.go).
"use strict";
(function () {
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (e) {
      if (!window.confirm(button.dataset.confirm)) e.preventDefault();
    });
  });

  // While the appliance restarts, wait for its login page to answer, then go back.
  if (document.getElementById("restarting")) {
    var tries = 0;
    var poll = function () {
      if (++tries > 60) return;
      setTimeout(function () {
        fetch("/login", { cache: "no-store" }).then(function (r) {
          if (r.ok) location.href = "/"; else poll();
        }, poll);
      }, 2000);
    };
    poll();
  }

  // Times in the browser's own time zone, written as the server writes them.
  var two = function (n) { return (n < 10 ? "0" : "") + n; };
  var clock = function (iso) {
    var d = new Date(iso);
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  };
  var datetime = function (iso) {
    var d = new Date(iso);
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + clock(iso);
  };
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    t.textContent = t.closest("#history, #recordings") ? datetime(t.dateTime) : clock(t.dateTime);
  });

  var handsets = document.getElementById("handsets");
  if (!handsets) return;
  var problem = document.getElementById("live-problem");
  var show = function (text) {
    problem.textContent = text;
    problem.hidden = !text;
  };

  // offset is the appliance's clock minus the browser's, in ms.
  var offset = Date.parse(handsets.dataset.serverTime) - Date.now() || 0;
  var duration = function (ms) {
    var s = Math.max(Math.floor(ms / 1000), 0);
    if (s >= 3600) return Math.floor(s / 3600) + ":" + two(Math.floor(s / 60) % 60) + ":" + two(s % 60);
    return Math.floor(s / 60) + ":" + two(s % 60);
  };
  var tick = function () {
    var now = Date.now() + offset;
    handsets.querySelectorAll('[data-field="calltime"]').forEach(function (el) {
      el.textContent = el.dataset.start ? duration(now - Date.parse(el.dataset.start)) : "";
    });
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      var left = Date.parse(el.dataset.expires) - now;
      el.textContent = "(" + (left > 0 ? "in " + duration(left) : el.dataset.past) + ")";
    });
  };
  window.setInterval(tick, 1000);

  handsets.querySelectorAll("form.live").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      // Not form.action: the control forms' input named "action" hides it.
      fetch(form.getAttribute("action"), {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      }).then(function (res) {
        if (res.ok) {
          if (form.elements.digits) form.elements.digits.value = "";
          return show("");
        }
        return res.json().then(
          function (body) { show(body.error); },
          function () { show("The appliance refused (HTTP " + res.status + ")."); });
      }, function () {
        show("Could not reach the appliance.");
      });
    });
  });

  var level = function (dbfs) {
    return dbfs <= -120 ? "silent" : Math.round(dbfs) + " dBFS";
  };
  var fixed1 = function (v) { return v.toFixed(1); };
  var reopens = function (n) {
    return n === 0 ? "never" : n === 1 ? "once" : n + " times";
  };
  // button sets a form's hidden value and its button's label.
  var button = function (form, name, value, label, who, disabled) {
    if (!form) return;
    form.querySelector('input[name="' + name + '"]').value = value;
    var b = form.querySelector("button");
    b.textContent = label;
    b.setAttribute("aria-label", label + " " + who);
    b.disabled = !!disabled;
  };

  // callerText says who calls, as index.tmpl's callerText does.
  var callerText = function (h) {
    var parts = [];
    if (h.caller) parts.push((h.state === "ringing" ? "Ringing: call from " : "Call from ") + h.caller);
    if (h.waiting) parts.push("Waiting: " + h.waiting);
    return parts.join(" · ");
  };

  var update = function (h) {
    var card = handsets.querySelector('.handset[data-index="' + h.index + '"]');
    if (!card) return;
    var field = function (name) { return card.querySelector('[data-field="' + name + '"]'); };
    var set = function (name, text) {
      var el = field(name);
      if (el && el.textContent !== text) el.textContent = text;
    };
    var state = field("state");
    set("state", h.state);
    state.className = "state state-" + h.state.toLowerCase().replace(/[^a-z0-9]/g, "-");
    set("identity", h.identity);
    set("conference", h.conference);
    set("detail", h.detail);
    set("local-only", h.localOnly || "");
    field("local-only").hidden = !h.localOnly;
    set("caller", callerText(h));
    field("caller").hidden = !(h.caller || h.waiting);
    var answer = card.querySelector("form.answer");
    if (answer) answer.hidden = !h.answerable;
    set("led", h.led);
    set("hook", h.offHook ? "off hook" : "on hook");
    set("mute", !h.inCall ? "not in a call" : h.muted ? "muted" : "live");
    field("calltime").dataset.start = h.callStart || "";
    ["mic", "ear"].forEach(function (m) {
      var v = h[m + "DBFS"], meter = field(m);
      meter.value = v;
      meter.setAttribute("aria-valuetext", level(v));
      meter.textContent = level(v);
      set(m + "-text", level(v));
    });
    var q = h.quality, dl = field("quality");
    dl.hidden = !q;
    if (q) {
      var setq = function (name, text) { dl.querySelector('[data-q="' + name + '"]').textContent = text; };
      setq("sent", String(q.packetsSent));
      setq("received", String(q.packetsReceived));
      setq("lost", q.lost + " (" + fixed1(q.lossPercent) + " %)");
      setq("jitter", fixed1(q.jitterMs) + " ms");
      setq("rtt", q.rttMs ? fixed1(q.rttMs) + " ms" : "");
      setq("mos", q.mos ? fixed1(q.mos) : "");
    }
    dl.querySelector('[data-q="earpiece-underruns"]').textContent = String(h.earpieceUnderruns || 0);
    dl.querySelector('[data-q="earpiece-dropped"]').textContent = String(h.earpieceDroppedSamples || 0);
    button(card.querySelector("form.call"), "action", h.busy ? "leave" : "join", h.busy ? "Leave" : "Join", h.name);
    button(card.querySelector("form.mute"), "action", h.muted ? "unmute" : "mute", h.muted ? "Unmute" : "Mute", h.name, !h.inCall);
    button(card.querySelector("form.hold"), "action", h.held ? "resume" : "hold", h.held ? "Resume" : "Hold", h.name, !h.inCall);
    button(card.querySelector("form.hook"), "offhook", h.offHook ? "0" : "1", h.offHook ? "Replace" : "Lift", h.name);
    var digits = card.querySelector("form.digits");
    if (digits) digits.hidden = !h.inCall;
  };

  // The audio device's health, drawn as index.tmpl draws it; virtual audio has none.
  var audio = function (a) {
    var box = document.getElementById("audio");
    if (!box) return;
    box.hidden = !a;
    if (!a) return;
    var set = function (name, text) {
      var el = box.querySelector('[data-audio="' + name + '"]');
      if (el.textContent !== text) el.textContent = text;
      return el;
    };
    set("overruns", String(a.overruns));
    set("underruns", String(a.underruns));
    var restarts = set("restarts", reopens(a.restarts));
    if (a.restarts) restarts.className = "alert";
    else restarts.removeAttribute("class");
    set("error-text", a.lastError);
    box.querySelector('[data-audio="error"]').hidden = !a.lastError;
  };

  var cell = function (row, label, text) {
    var td = row.insertCell();
    td.dataset.label = label;
    td.textContent = text;
    return td;
  };
  var shownRegs = null;
  var registrations = function (regs) {
    var body = document.querySelector("#registrations tbody");
    var json = JSON.stringify(regs);
    if (!body || json === shownRegs) return;
    shownRegs = json;
    body.replaceChildren();
    if (!regs || !regs.length) {
      cell(body.insertRow(), "", "No accounts.").colSpan = 6;
      return;
    }
    var when = function (row, label, past, iso) {
      var td = cell(row, label, "");
      if (!iso || !(Date.parse(iso) > 0)) return;
      var t = document.createElement("time");
      t.dateTime = iso;
      t.textContent = clock(iso);
      var left = document.createElement("span");
      left.className = "expires-in";
      left.dataset.expires = iso;
      left.dataset.past = past;
      td.append(t, " ", left);
    };
    regs.forEach(function (r) {
      var row = body.insertRow();
      cell(row, "Account", r.account);
      cell(row, "Address", r.aor);
      cell(row, "State", r.state);
      cell(row, "Detail", r.detail);
      when(row, "Expires", "expired", r.expires);
      when(row, "Next REGISTER", "due", r.nextAttempt);
    });
  };

  // The rosters, drawn as index.tmpl draws them.
  var shownRosters = null;
  var rosters = function (list) {
    var box = document.getElementById("rosters");
    var json = JSON.stringify(list);
    if (!box || json === shownRosters) return;
    shownRosters = json;
    box.replaceChildren();
    if (!list || !list.length) return;
    var el = function (tag, text) {
      var e = document.createElement(tag);
      if (text !== undefined) e.textContent = text;
      return e;
    };
    box.append(el("h2", "Conference rosters"));
    list.forEach(function (r) {
      var section = el("section");
      section.className = "roster";
      section.setAttribute("aria-label", "Roster of " + r.conference);
      section.append(el("h3", r.conference));
      if (r.note) {
        var note = el("p", r.note);
        note.className = "note";
        section.append(note);
      }
      var scroll = el("div");
      scroll.className = "scroll";
      var table = el("table");
      table.className = "stack";
      var head = table.createTHead().insertRow();
      ["Participant", "Display name", "Status", "Muted", "Ours"].forEach(function (label) {
        var th = el("th", label);
        th.scope = "col";
        head.append(th);
      });
      var body = table.createTBody();
      var people = r.participants || [];
      if (!people.length) cell(body.insertRow(), "", "Nobody is listed.").colSpan = 5;
      people.forEach(function (p) {
        var row = body.insertRow();
        cell(row, "Participant", p.uri);
        cell(row, "Display name", p.displayName);
        cell(row, "Status", p.status);
        cell(row, "Muted", p.muted ? "muted" : "");
        cell(row, "Ours", p.ours ? "ours" : "");
      });
      scroll.append(table);
      section.append(scroll);
      box.append(section);
    });
  };

  var log = document.getElementById("events");
  var noEvents = document.getElementById("no-events");
  var addEvents = function (events) {
    events.forEach(function (e) {
      var li = document.createElement("li");
      li.className = "event-" + e.level.toLowerCase();
      var t = document.createElement("time");
      t.dateTime = e.time;
      t.textContent = clock(e.time);
      var source = document.createElement("span");
      source.className = "source";
      source.textContent = e.source;
      li.append(t, " ", source, " " + e.text);
      log.prepend(li);
    });
    while (log.children.length > 50) log.lastElementChild.remove();
    noEvents.hidden = log.children.length > 0;
  };

  if (!window.EventSource) return;
  var stream = new EventSource("/events?after=" + encodeURIComponent(log.dataset.after));
  stream.onerror = function () {
    if (stream.readyState === EventSource.CLOSED) show("Live updates stopped: reload the page.");
  };
  stream.onmessage = function (e) {
    var status = JSON.parse(e.data);
    offset = Date.parse(status.serverTime) - Date.now() || offset;
    (status.handsets || []).forEach(update);
    audio(status.audio);
    registrations(status.registrations);
    rosters(status.rosters);
    tick();
  };
  stream.addEventListener("log", function (e) {
    addEvents(JSON.parse(e.data));
  });
})();
