// 资金 funds: totals per programme and month (GET /api/totals, the record of `ledgerctl totals
// --format json`) as a table and an SVG bar chart drawn here: per month of the page, the sums of
// issued, settled, failed and returned over its programmes. Amounts are integer fen, shown as yuan.
"use strict";

const { t, el, yuan, api, refuse, params } = Console;
const limit = 100;
let offset = 0;
const series = [
  ["issuedFen", "funds.issued", "已发放", "#2f5d8a"], ["settledFen", "funds.settled", "已到账", "#1d6b37"],
  ["failedFen", "funds.failed", "失败", "#9b1c1c"], ["returnedFen", "funds.returned", "退回", "#c07a12"],
];

function row(r) {
  const tr = document.createElement("tr");
  tr.dataset.period = r.period;
  tr.dataset.programme = r.programme;
  tr.append(el("td", r.programme, "programme"), el("td", r.period, "period"));
  for (const key of ["allocatedFen", "issuedFen", "settledFen", "failedFen", "returnedFen", "recoveredFen",
                     "balanceFen"]) {
    tr.append(el("td", yuan(r[key]), "num " + key));
  }
  return tr;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Grouped bars: a group per month, a bar per series, heights to the page's largest sum.
function chart(rows) {
  const months = new Map();
  for (const r of rows) {
    const m = months.get(r.period) || Object.fromEntries(series.map(([k]) => [k, 0]));
    for (const [k] of series) m[k] += r[k];
    months.set(r.period, m);
  }
  const box = document.getElementById("chart");
  box.replaceChildren();
  const width = 1200, height = 260, bottom = 230, top = 10;
  const max = Math.max(1, ...[...months.values()].flatMap(m => series.map(([k]) => m[k])));
  const groupWidth = (width - 60) / Math.max(1, months.size);
  const barWidth = Math.max(2, (groupWidth - 6) / series.length);
  box.append(svg("line", { x1: 50, y1: bottom, x2: width, y2: bottom, stroke: "#5b6573" }));
  box.append(Object.assign(svg("text", { x: 0, y: top + 10, "font-size": 11 }), { textContent: yuan(max) }));
  [...months.entries()].forEach(([period, m], i) => {
    const g = svg("g", { class: "month", "data-period": period });
    const x0 = 55 + i * groupWidth;
    series.forEach(([key, , , colour], j) => {
      const h = Math.round((m[key] / max) * (bottom - top));
      const bar = svg("rect", { x: x0 + j * barWidth, y: bottom - h, width: barWidth - 1, height: h, fill: colour,
                                "data-series": key, "data-fen": m[key] });
      bar.append(Object.assign(svg("title", {}), { textContent: `${period} ${key} ${yuan(m[key])}` }));
      g.append(bar);
    });
    g.append(Object.assign(svg("text", { x: x0, y: bottom + 14, "font-size": 10 }), { textContent: period }));
    box.append(g);
  });
  const legend = document.getElementById("legend");
  legend.replaceChildren(...series.map(([, key, zh, colour]) => {
    const item = el("span", t(key, zh), "legend");
    const swatch = el("span", null, "swatch");
    swatch.style.background = colour;  // CSSOM, which the page's CSP allows (no inline style).
    item.prepend(swatch);
    return item;
  }));
}

async function show() {
  const q = params();
  for (const name of ["region", "programme", "from", "to"]) document.getElementById(name).value = q.get(name) || "";
  const query = ["region", "programme", "from", "to"].map(n => `${n}=${encodeURIComponent(q.get(n) || "")}`).join("&");
  const { status, body } = await api(`totals?${query}&offset=${offset}&limit=${limit}`);
  if (status !== 200) return refuse(status, body);
  const rows = body.result.rows;
  document.querySelector("#totals tbody").replaceChildren(...rows.map(row));
  chart(rows);
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + limit >= body.total.rows;
  document.getElementById("result").hidden = false;
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!(await Console.start("funds"))) return;
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); show(); });
  document.getElementById("next").addEventListener("click", () => { offset += limit; show(); });
  document.addEventListener("langchange", show);
  await show();
});
