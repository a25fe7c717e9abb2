// Live board: the server pushes re-rendered rows over server-sent events.
(function () {
  if (!window.EventSource || !document.querySelector("table.board")) return;
  var live = document.getElementById("live");
  var es = new EventSource("/board/live");
  es.addEventListener("row", function (ev) {
    var tpl = document.createElement("template");
    tpl.innerHTML = ev.data.trim();
    var row = tpl.content.firstElementChild;
    if (!row) return;
    var old = document.getElementById(row.id);
    if (old) old.replaceWith(row);
  });
  es.onopen = function () { if (live) { live.textContent = "live"; live.className = "live"; } };
  es.onerror = function () { if (live) { live.textContent = "reconnecting"; live.className = "live off"; } };
})();
