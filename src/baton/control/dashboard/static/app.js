// Baton dashboard behaviour: sparklines (uPlot) and live updates over Server-Sent Events. No build step.
(function () {
  "use strict";

  function drawSparklines(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll(".spark").forEach(function (el) {
      var data;
      try { data = JSON.parse(el.dataset.series); } catch (e) { return; }
      el.textContent = "";
      var values = data.v.map(function (v) { return v === null ? null : v; });
      var colour = el.dataset.colour || "#2563eb";
      var opts = {
        width: el.clientWidth || 150,
        height: el.clientHeight || 34,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, Math.max(max || 0, 1e-9) * 1.15]; } } },
        series: [{}, { stroke: colour, width: 1.5, fill: colour + "22", spanGaps: true, points: { show: false } }],
      };
      new uPlot(opts, [data.t, values], el);
      el.setAttribute("data-drawn", "1");
    });
  }

  var refreshing = false;
  var pending = false;

  function refresh() {
    var main = document.getElementById("content");
    if (!main || main.dataset.live !== "1") return;
    if (refreshing) { pending = true; return; }
    refreshing = true;
    fetch(window.location.href, { headers: { "X-Partial": "1" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok && r.status !== 404) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content");
        if (!fresh) return;
        // Keep open <details> (expanded rows) open across the refresh.
        var open = Array.prototype.map.call(main.querySelectorAll("details[open]"), function (d) { return d.dataset.span; });
        main.innerHTML = fresh.innerHTML;
        open.forEach(function (id) { var d = main.querySelector('details[data-span="' + id + '"]'); if (d) d.open = true; });
        drawSparklines(main);
      })
      .catch(function () { /* the next event retries */ })
      .finally(function () { refreshing = false; if (pending) { pending = false; refresh(); } });
  }

  function connect() {
    var indicator = document.getElementById("live");
    var text = document.getElementById("live-text");
    if (!window.EventSource || !indicator) return;
    var source = new EventSource("/v1/events");
    source.addEventListener("hello", function () { indicator.className = "live-indicator on"; text.textContent = "live"; });
    source.addEventListener("tick", function (e) {
      indicator.className = "live-indicator on";
      try { text.textContent = "live · round " + JSON.parse(e.data).round; } catch (err) { text.textContent = "live"; }
      refresh();
    });
    source.addEventListener("incident", refresh);
    source.onerror = function () { indicator.className = "live-indicator off"; text.textContent = "reconnecting"; };
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawSparklines(document);
    connect();
    var jump = document.getElementById("trace-jump");
    if (jump) {
      jump.form.addEventListener("submit", function (e) {
        var id = jump.value.trim().toLowerCase();
        if (id) { e.preventDefault(); window.location.href = "/ui/traces/" + encodeURIComponent(id); }
      });
    }
  });
})();
