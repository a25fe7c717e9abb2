// Live board: the server pushes re-rendered rows and its clock over
// server-sent events; this keeps the counts, the "as of", the folding of
// past rows and the filters in step, and flags a fresh cancellation.
(function () {
  var meta = document.getElementById("board-meta");
  if (!meta) return;
  var live = document.getElementById("live");
  var d = meta.dataset;
  var dayStart = +d.dayStart, dayEnd = +d.dayEnd, since = +d.since;
  var today = d.today === "true";

  // Tabs: on narrow screens one of departures and arrivals shows at a time.
  var tabs = document.querySelectorAll(".board-tabs [data-tab]");
  tabs.forEach(function (b) {
    b.addEventListener("click", function () {
      tabs.forEach(function (o) { o.setAttribute("aria-selected", o === b ? "true" : "false"); });
      document.querySelectorAll(".board-part").forEach(function (p) { p.classList.toggle("active", p.id === b.dataset.tab); });
    });
  });

  // Keyboard: j/k or the arrow keys move between the visible rows of a
  // part, left and right switch between departures and arrivals, Enter
  // opens the flight. Typing in a field is left alone.
  function visibleRows(part) {
    return Array.prototype.filter.call(part.querySelectorAll('tr[data-testid="board-row"]'), function (r) { return r.offsetParent !== null; });
  }
  function shownPart() {
    return Array.prototype.filter.call(document.querySelectorAll(".board-part"), function (p) { return p.offsetParent !== null; })[0];
  }
  function focusRow(r) { if (r) { r.focus(); r.scrollIntoView({ block: "nearest" }); } }
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.tagName === "BUTTON" || t.isContentEditable)) return;
    var row = t && t.closest ? t.closest('tr[data-testid="board-row"]') : null;
    var part = row ? row.closest(".board-part") : shownPart();
    if (!part) return;
    var rows = visibleRows(part), i = row ? rows.indexOf(row) : -1;
    var k = ev.key;
    if (k === "j" || k === "ArrowDown") focusRow(rows[Math.min(i + 1, rows.length - 1)]);
    else if (k === "k" || k === "ArrowUp") focusRow(rows[Math.max(i - 1, 0)]);
    else if (k === "Enter" && row) { var a = row.querySelector("td.flight a"); if (a) location.href = a.href; }
    else if (k === "h" || k === "l" || k === "ArrowLeft" || k === "ArrowRight") {
      var all = Array.prototype.slice.call(document.querySelectorAll(".board-part"));
      var other = all[(all.indexOf(part) + 1) % all.length];
      var tab = document.querySelector('.board-tabs [data-tab="' + other.id + '"]');
      if (tab && tab.offsetParent !== null) tab.click();
      focusRow(visibleRows(other)[0]);
    } else return;
    ev.preventDefault();
  });

  function keep(row) {
    if (d.filterDisrupted === "true" && !row.classList.contains("disrupted")) return false;
    if (d.filterCarrier && row.dataset.carrier !== d.filterCarrier) return false;
    if (d.filterGate && (row.dataset.gate || "").indexOf(d.filterGate) !== 0) return false;
    return true;
  }

  function recount() {
    var rows = document.querySelectorAll('tr[data-testid="board-row"]');
    var dis = 0, can = 0;
    rows.forEach(function (r) {
      if (r.classList.contains("disrupted")) dis++;
      if (r.dataset.status === "cancelled") can++;
    });
    setText('[data-testid="disrupted-count"]', dis);
    setText('[data-testid="cancelled-count"]', can);
    document.querySelectorAll(".board-part").forEach(function (p) {
      var n = p.querySelectorAll('tr[data-testid="board-row"]:not(.earlier)').length;
      var c = p.querySelector('[data-testid="count"]');
      if (c) c.textContent = n;
    });
  }
  function setText(sel, v) { var e = document.querySelector(sel); if (e) e.textContent = v; }

  function beep() {
    var box = document.getElementById("board-sound");
    if (!box || !box.checked || !window.AudioContext) return;
    var ac = new AudioContext(), o = ac.createOscillator();
    o.frequency.value = 880;
    o.connect(ac.destination);
    o.start();
    o.stop(ac.currentTime + 0.25);
  }

  function insert(row) {
    var t = +row.dataset.t;
    if (t < dayStart || t >= dayEnd) return false;
    var part = document.getElementById(row.dataset.dir === "dep" ? "departures" : "arrivals");
    if (!part) return false;
    var table = part.querySelector("table.board"), body = table.querySelector("tbody");
    var before = null;
    body.querySelectorAll("tr").forEach(function (r) { if (!before && +r.dataset.t > t) before = r; });
    body.insertBefore(row, before);
    table.classList.remove("hidden");
    var empty = part.querySelector(".empty");
    if (empty) empty.remove();
    return true;
  }

  function fold(now) {
    if (!today || !since) return;
    document.querySelectorAll('tr[data-testid="board-row"]').forEach(function (r) {
      if (+r.dataset.until < now - 3600) r.classList.add("earlier");
    });
  }

  recount();
  if (!window.EventSource) return;
  var es = new EventSource("/board/live");
  es.addEventListener("row", function (ev) {
    var tpl = document.createElement("template");
    tpl.innerHTML = ev.data.trim();
    var row = tpl.content.firstElementChild;
    if (!row) return;
    var old = document.getElementById(row.id);
    var shown = false;
    if (old && keep(row)) {
      // Later updates of the same flight (its proposals, say) keep the cue.
      ["earlier", "just-cancelled"].forEach(function (c) { if (old.classList.contains(c)) row.classList.add(c); });
      var focused = document.activeElement === old;
      old.replaceWith(row);
      if (focused) row.focus();
      shown = true;
    } else if (old) {
      old.remove();
    } else if (keep(row)) {
      shown = insert(row);
    }
    if (shown && row.dataset.status === "cancelled" && (!old || old.dataset.status !== "cancelled")) {
      row.classList.remove("earlier");
      row.classList.add("just-cancelled");
      beep();
    }
    recount();
  });
  es.addEventListener("clock", function (ev) {
    var c = JSON.parse(ev.data);
    setText('[data-testid="as-of"]', c.asof);
    fold(c.now);
    // Today's board moves to the next day at midnight; a chosen day stays.
    if (today && !new URLSearchParams(location.search).get("date") && c.date !== d.date) location.reload();
    recount();
  });
  es.onopen = function () { if (live) { live.textContent = "live"; live.className = "live"; } };
  es.onerror = function () { if (live) { live.textContent = "reconnecting"; live.className = "live off"; } };
})();
