// Draws the AUTOTEST page's charts from the JSON the server embedded in #autotest-data (plotly.js, served
// by this plugin: no network needed).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("autotest-data").textContent);
  const base = window.AUTOTEST_BASE || "";
  const config = { responsive: true, displaylogo: false };
  const EDGE_STYLE = {
    continuation: { color: "#5b6b7a", dash: "solid" },
    rollback: { color: "#c0392b", dash: "dot" },
    exploit: { color: "#8e44ad", dash: "dash" },
    promotion: { color: "#16a085", dash: "dashdot" },
  };
  const ROLE_COLOUR = { explorer: "#1f77b4", refiner: "#ff7f0e", champion: "#d4a017", pbt: "#9467bd", curriculum: "#2ca02c" };
  const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));

  function lineageTree(el, graph) {
    const byId = Object.fromEntries(graph.nodes.map((n) => [n.id, n]));
    const traces = graph.kinds.map((kind) => {
      const xs = [], ys = [];
      graph.edges.filter((e) => e.kind === kind).forEach((e) => {
        const p = byId[e.parent], c = byId[e.child];
        xs.push(p.x, c.x, null); ys.push(p.y, c.y, null);
      });
      return { type: "scatter", mode: "lines", name: kind, x: xs, y: ys, hoverinfo: "skip",
               line: { color: EDGE_STYLE[kind].color, dash: EDGE_STYLE[kind].dash, width: 1.6 },
               visible: xs.length ? true : "legendonly" };
    });
    const roles = [...new Set(graph.nodes.map((n) => n.role))];
    roles.forEach((role) => {
      const nodes = graph.nodes.filter((n) => n.role === role);
      traces.push({
        type: "scatter", mode: "markers", name: role, x: nodes.map((n) => n.x), y: nodes.map((n) => n.y),
        customdata: nodes.map((n) => n.id),
        text: nodes.map((n) => `<b>${n.id}</b><br>${n.role}, generation ${n.generation}<br>week ${n.week}, ${n.status}` +
          (n.stage !== null ? `<br>curriculum stage ${n.stage}` : "") + (n.champion_week ? `<br>champion (week ${n.champion_week})` : "")),
        hovertemplate: "%{text}<extra></extra>",
        marker: { size: 11, color: ROLE_COLOUR[role] || "#7f7f7f",
                  symbol: nodes.map((n) => (n.status === "rolled_back" ? "x" : n.status === "retired" ? "circle-open" : "circle")),
                  line: { width: nodes.map((n) => (n.champion_week ? 3 : 0)), color: "#d4a017" } },
      });
    });
    const layout = {
      margin: { l: 40, r: 10, t: 10, b: 40 }, hovermode: "closest", dragmode: "zoom",
      xaxis: { title: { text: "generation" }, dtick: 1, zeroline: false },
      yaxis: { visible: false, zeroline: false }, legend: { orientation: "h", y: -0.12 },
    };
    Plotly.newPlot(el, traces, layout, config).then(() => {
      el.on("plotly_click", (ev) => {
        const id = ev.points && ev.points[0] && ev.points[0].customdata;
        if (id) window.location.href = `${base}/models/${encodeURIComponent(id)}`;
      });
      el.dataset.ready = "true";
    });
  }

  function championChart(el, history) {
    const trace = { type: "scatter", mode: "lines+markers", x: history.map((c) => c.week), y: history.map((c) => c.score),
                    text: history.map((c) => `${c.model_id}<br>${c.rule}`), hovertemplate: "%{x}: %{y:.3f}<br>%{text}<extra></extra>",
                    line: { shape: "hv" } };
    Plotly.newPlot(el, [trace], { margin: { l: 50, r: 10, t: 10, b: 40 }, yaxis: { title: { text: "champion score" } } }, config);
  }

  function pbtChart(el, points) {
    const slots = [...new Set(points.map((p) => p.slot))].sort((a, b) => a - b);
    const traces = [];
    slots.forEach((slot, i) => {
      const mine = points.filter((p) => p.slot === slot).sort((a, b) => a.round - b.round);
      const colour = `hsl(${(i * 360) / slots.length}, 60%, 45%)`;
      const text = mine.map((p) => `${p.model_id}<br>lr ${p.learning_rate.toExponential(2)}, clip ${p.clip_range}, ent ${p.ent_coef}` +
        (p.copied_from ? `<br>copied from ${p.copied_from}` : "") + (p.replaced ? "<br>replaced after this round" : ""));
      traces.push({ type: "scatter", mode: "lines+markers", name: `m${String(slot).padStart(2, "0")}`, legendgroup: `s${slot}`,
                    x: mine.map((p) => p.round), y: mine.map((p) => p.score), text, hovertemplate: "round %{x}: %{y:.3f}<br>%{text}<extra></extra>",
                    marker: { color: colour, symbol: mine.map((p) => (p.replaced ? "x" : "circle")), size: 8 }, line: { color: colour } });
      traces.push({ type: "scatter", mode: "lines+markers", showlegend: false, legendgroup: `s${slot}`, xaxis: "x", yaxis: "y2",
                    x: mine.map((p) => p.round), y: mine.map((p) => p.learning_rate), hovertemplate: "round %{x}: lr %{y:.2e}<extra></extra>",
                    marker: { color: colour, size: 5 }, line: { color: colour, width: 1 } });
    });
    const layout = {
      margin: { l: 60, r: 10, t: 10, b: 40 }, grid: { rows: 2, columns: 1, roworder: "top to bottom" }, hovermode: "closest",
      xaxis: { title: { text: "round" }, dtick: 1 }, yaxis: { title: { text: "validation score" }, domain: [0.42, 1] },
      yaxis2: { title: { text: "learning rate" }, type: "log", domain: [0, 0.34] },
    };
    Plotly.newPlot(el, traces, layout, config);
  }

  function trackRecordChart(el, record) {
    const labels = { strategy: "paper orders (net)", own_1n: "1/N own tickers", universe_1n: "1/N universe", benchmark: "benchmark" };
    const traces = Object.entries(record.cumulative).map(([name, ys]) => ({
      type: "scatter", mode: "lines+markers", name: labels[name] || name, x: record.marked_weeks, y: ys,
      line: { dash: name === "strategy" ? "solid" : "dot", width: name === "strategy" ? 2.5 : 1.5 },
      hovertemplate: "%{x}: %{y:.2%}<extra>" + (labels[name] || name) + "</extra>",
    }));
    Plotly.newPlot(el, traces, { margin: { l: 60, r: 10, t: 10, b: 40 }, yaxis: { tickformat: ".1%", title: { text: "cumulative return" } } }, config);
  }

  const lineage = document.getElementById("lineage-tree");
  if (lineage) lineageTree(lineage, data.lineage);
  const champ = document.getElementById("champion-chart");
  if (champ && data.champions.history.length) championChart(champ, data.champions.history);
  const track = document.getElementById("track-record-chart");
  if (track) trackRecordChart(track, data.track_record);
  document.querySelectorAll(".pbt-chart").forEach((el) => {
    const pop = data.pbt.find((p) => p.population === el.dataset.population);
    if (pop) pbtChart(el, pop.points);
  });
})();
