// Ask: posts the question and shows the answer as it streams in.
(function () {
  var form = document.getElementById("ask-form");
  if (!form) return;
  var out = document.getElementById("ask-answer");
  var meta = document.getElementById("ask-meta");
  var sources = document.getElementById("ask-sources");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {};
    new FormData(form).forEach(function (v, k) {
      v = String(v).trim();
      if (v) body[k] = k === "question" ? v : v.toUpperCase();
    });
    out.textContent = ""; meta.textContent = "Thinking…"; sources.textContent = "";
    fetch("/api/v1/ask", { method: "POST", headers: { "Content-Type": "application/json", "Accept": "text/event-stream" }, body: JSON.stringify(body) })
      .then(function (resp) {
        if (!resp.ok) return resp.json().then(function (e) { meta.textContent = e.error || resp.statusText; });
        var reader = resp.body.getReader(), dec = new TextDecoder(), buf = "";
        function handle(block) {
          var event = "message", data = [];
          block.split("\n").forEach(function (l) {
            if (l.indexOf("event: ") === 0) event = l.slice(7);
            else if (l.indexOf("data: ") === 0) data.push(l.slice(6));
          });
          var text = data.join("\n");
          if (event === "token") { out.textContent += text; }
          else if (event === "answer") {
            var a = JSON.parse(text);
            out.textContent = a.answer;
            var m = a.freshness || "";
            if (a.findings && a.findings.length) m += " · check: " + a.findings.join("; ");
            meta.textContent = m;
            (a.sources || []).forEach(function (s) {
              var li = document.createElement("li");
              li.textContent = s.id + " (" + s.kind + ", offset " + s.offset + ")" + (a.citations.indexOf(s.id) >= 0 ? " cited" : "");
              sources.appendChild(li);
            });
          } else if (event === "error") { meta.textContent = JSON.parse(text).error; }
        }
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) return;
            buf += dec.decode(r.value, { stream: true });
            var i;
            while ((i = buf.indexOf("\n\n")) >= 0) { handle(buf.slice(0, i)); buf = buf.slice(i + 2); }
            return pump();
          });
        }
        return pump();
      })
      .catch(function (e) { meta.textContent = "The question could not be sent: " + e; });
  });
})();
