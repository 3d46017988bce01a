// Site charts: fetch the bucketed series (null = no data) and draw them with uPlot.
// uPlot leaves a null as a gap (spanGaps is off), so a period without data is never drawn as a line.
(function () {
  "use strict";
  var box = document.getElementById("charts");
  if (!box || !window.uPlot) return;
  var labels = JSON.parse(box.getAttribute("data-labels"));
  var plots = [];
  // Times in UTC (Mali's time, and the server's everywhere else), 24-hour, dates in the page's
  // language (uPlot's defaults are the browser's zone and US formats: 12pm, 11/28/26).
  var lang = document.documentElement.lang || "fr";
  var utc = { timeZone: "UTC" };
  var dayFmt = new Intl.DateTimeFormat(lang, Object.assign({ day: "2-digit", month: "2-digit" }, utc));
  var hourFmt = new Intl.DateTimeFormat(lang, Object.assign({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, utc));
  var fullFmt = new Intl.DateTimeFormat(lang, Object.assign({ day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, utc));
  function tick(ts) {
    var d = new Date(ts * 1000);
    return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 ? dayFmt.format(d) : hourFmt.format(d);
  }
  var timeAxis = { values: function (u, splits) { return splits.map(tick); } };
  var timeSeries = { label: labels.time,
                     value: function (u, ts) { return ts == null ? "--" : fullFmt.format(new Date(ts * 1000)); } };
  function width() { return Math.max(280, Math.min(box.clientWidth || 600, 900)); }
  function chart(title, data, series, axes) {
    var div = document.createElement("div");
    div.className = "chart";
    box.appendChild(div);
    var opts = { title: title, width: width(), height: 180, series: [timeSeries].concat(series),
                 axes: [timeAxis].concat(axes || [{ size: 50 }]),
                 tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); } };
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
            [{ label: "PV", stroke: "#e90", fill: "rgba(238,153,0,0.15)" }, { label: labels.load, stroke: "#a3a" }]);
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
