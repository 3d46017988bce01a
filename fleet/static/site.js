// Site charts: fetch the bucketed series (null = no data) and draw them with uPlot.
// uPlot leaves a null as a gap (spanGaps is off), so a period without data is never drawn as a line.
(function () {
  "use strict";
  var box = document.getElementById("charts");
  if (!box || !window.uPlot) return;
  var labels = JSON.parse(box.getAttribute("data-labels"));
  var plots = [];
  function width() { return Math.max(280, Math.min(box.clientWidth || 600, 900)); }
  function chart(title, data, series, axes) {
    var div = document.createElement("div");
    div.className = "chart";
    box.appendChild(div);
    var opts = { title: title, width: width(), height: 180, series: [{}].concat(series),
                 axes: [{}].concat(axes || [{ size: 50 }]) };
    plots.push(new uPlot(opts, data, div));
  }
  function draw(days) {
    var req = new XMLHttpRequest();
    req.open("GET", box.getAttribute("data-series") + "?days=" + days);
    req.onload = function () {
      if (req.status !== 200) return;
      var d = JSON.parse(req.responseText);
      plots.forEach(function (p) { p.destroy(); });
      plots = [];
      box.textContent = "";
      chart(labels.soc, [d.t, d.battery_soc], [{ label: "SOC", stroke: "#2a7" }]);
      chart(labels.voltage + " / " + labels.current, [d.t, d.battery_voltage, d.battery_current],
            [{ label: "V", stroke: "#36c", scale: "V" }, { label: "A", stroke: "#c63", scale: "A" }],
            [{ scale: "V", size: 50 }, { scale: "A", side: 1, size: 50, grid: { show: false } }]);
      chart(labels.pv + " / " + labels.load, [d.t, d.pv_power, d.load_power],
            [{ label: "PV", stroke: "#e90", fill: "rgba(238,153,0,0.15)" }, { label: "Load", stroke: "#a3a" }]);
      box.setAttribute("data-drawn", days);
    };
    req.send();
  }
  document.querySelectorAll("[data-days]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      document.querySelectorAll("[data-days]").forEach(function (b) { b.className = ""; });
      a.className = "on";
      draw(a.getAttribute("data-days"));
    });
  });
  draw(7);
})();
