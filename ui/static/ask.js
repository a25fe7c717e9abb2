// Ask: posts the question and shows each step as it arrives: the
// freshness stamp, the sources, the answer (facts or quoted passages),
// then the model's summary when it passed the checks.
(function () {
  var form = document.getElementById("ask-form");
  if (!form) return;
  var out = document.getElementById("ask-answer");
  var meta = document.getElementById("ask-meta");
  var summary = document.getElementById("ask-summary");
  var sources = document.getElementById("ask-sources");
  var stop = document.getElementById("ask-stop");
  var controller = null, timer = null, started = 0;

  function link(id, kind) {
    var href = kind === "flight" ? "/flights/" + id : kind === "booking" ? "/bookings/" + id : kind === "passenger" ? "/passengers/" + id : kind === "proposal" ? "/proposals/" + id : kind === "policy" ? "/documents/" + id.replace(/#(\d+)$/, "#s$1") : "";
    var el = document.createElement(href ? "a" : "span");
    if (href) el.href = encodeURI(href);
    el.textContent = id;
    return el;
  }
  function render(a) {
    out.textContent = "";
    if (a.kind === "facts" || a.kind === "not_in_data" && a.facts && a.facts.length) {
      var ul = document.createElement("ul");
      (a.facts || []).forEach(function (f) {
        var li = document.createElement("li");
        li.textContent = f.text + " ";
        var c = document.createElement("span"); c.className = "cite";
        c.append("[", link(f.cite.id, f.cite.kind), "@" + f.cite.offset + "]");
        li.appendChild(c); ul.appendChild(li);
      });
      out.appendChild(ul);
      (a.missing || []).forEach(function (m) { var p = document.createElement("p"); p.textContent = "Not in the data: no " + m + " in the current state."; out.appendChild(p); });
    } else if (a.kind === "policy") {
      (a.passages || []).forEach(function (p) {
        var q = document.createElement("blockquote");
        q.textContent = p.text;
        var c = document.createElement("footer");
        c.textContent = p.title + (p.heading ? " › " + p.heading : "") + " [" + p.doc_id + "@" + p.offset + "]";
        q.appendChild(c); out.appendChild(q);
      });
    } else {
      out.textContent = a.answer;
    }
  }
  function showMeta(a) {
    var m = a.freshness || "";
    if (a.lagging) m = "Warning: " + m;
    meta.textContent = m;
    meta.className = a.lagging ? "meta warn" : "meta";
  }
  function showSources(a) {
    sources.textContent = "";
    (a.sources || []).forEach(function (s) {
      var li = document.createElement("li");
      li.append(link(s.id, s.kind), " (" + s.kind + (s.heading ? ", " + s.heading : "") + ", offset " + s.offset + ")");
      sources.appendChild(li);
    });
  }
  function finish(text) {
    clearInterval(timer); timer = null; controller = null;
    stop.hidden = true;
    if (text) meta.textContent = text;
    refreshHistory();
  }
  // The node records every question before it answers "done" or "error":
  // the history section, rendered again by the server, shows it on top.
  function refreshHistory() {
    var section = document.querySelector('[data-testid="ask-history"]');
    if (!section) return;
    var q = new URLSearchParams(location.search);
    q.set("part", "history");
    fetch("/ask?" + q.toString(), { headers: { "Accept": "text/html" } })
      .then(function (resp) { return resp.ok ? resp.text() : null; })
      .then(function (html) {
        if (!html) return;
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var fresh = t.content.querySelector('[data-testid="ask-history"]');
        if (fresh) section.replaceWith(fresh);
      })
      .catch(function () {});
  }
  stop.addEventListener("click", function () { if (controller) controller.abort(); finish("Stopped. Ask again to retry."); });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (controller) controller.abort();
    var body = {};
    new FormData(form).forEach(function (v, k) {
      v = String(v).trim();
      if (v) body[k] = k === "question" ? v : v.toUpperCase();
    });
    out.textContent = ""; summary.textContent = ""; sources.textContent = "";
    started = Date.now();
    meta.textContent = "Looking up…";
    var elapsed = document.getElementById("ask-elapsed");
    timer = setInterval(function () { elapsed.textContent = ((Date.now() - started) / 1000).toFixed(1) + " s"; }, 100);
    stop.hidden = false;
    controller = new AbortController();
    fetch("/api/v1/ask", { method: "POST", signal: controller.signal, headers: { "Content-Type": "application/json", "Accept": "text/event-stream" }, body: JSON.stringify(body) })
      .then(function (resp) {
        if (!resp.ok) return resp.json().then(function (e) { finish(e.error || resp.statusText); });
        var reader = resp.body.getReader(), dec = new TextDecoder(), buf = "";
        function handle(block) {
          var event = "message", data = [];
          block.split("\n").forEach(function (l) {
            if (l.indexOf("event: ") === 0) event = l.slice(7);
            else if (l.indexOf("data: ") === 0) data.push(l.slice(6));
          });
          var text = data.join("\n");
          if (event === "error") { finish(JSON.parse(text).error); return; }
          var a = JSON.parse(text);
          if (event === "freshness") showMeta(a);
          else if (event === "sources") showSources(a);
          else if (event === "answer") { render(a); showMeta(a); if (a.kind === "policy") summary.textContent = "Summarising…"; }
          else if (event === "summary") { summary.textContent = "Summary: " + a.summary.text; }
          else if (event === "done") {
            render(a); showSources(a); showMeta(a);
            if (a.summary) summary.textContent = "Summary: " + a.summary.text;
            else if (a.kind === "policy") summary.textContent = a.summary_status === "refused" ? "The model's summary did not pass the checks; the quoted passages stand." :
              a.summary_status === "timed out" ? "No summary: the model was busy; the quoted passages stand." : "";
            finish("");
            showMeta(a);
          }
        }
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { if (timer) finish(""); return; }
            buf += dec.decode(r.value, { stream: true });
            var i;
            while ((i = buf.indexOf("\n\n")) >= 0) { handle(buf.slice(0, i)); buf = buf.slice(i + 2); }
            return pump();
          });
        }
        return pump();
      })
      .catch(function (e) { if (e.name !== "AbortError") finish("The question could not be sent: " + e + ". Ask again to retry."); });
  });
})();
