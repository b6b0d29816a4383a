// 资金 funds: totals per programme and month (GET /api/totals, the record of `ledgerctl totals
// --format json`) as a table and an SVG bar chart drawn here: per month of the page, the sums of
// issued, settled, failed and returned over its programmes; the roll as of a date (/api/roll) and
// the recoveries outstanding (/api/recoveries), a page each; and a bank result file reconciled
// (POST /api/reconcile, the record of `ledgerctl reconcile --format json`), then, confirmed,
// recorded by the signed-in finance officer. Amounts are integer fen, shown as yuan.
"use strict";

const { t, el, yuan, api, refuse, params } = Console;
const limit = 100;
let offset = 0, rollOffset = 0, recOffset = 0;
let bankText = null, bankName = "";  // The file last reconciled: what "apply" records.

Console.addLabels({
  "funds.asOf": "Roll as of", "funds.roll": "Roll", "funds.rollSummary": "Cases / suspended / monthly (yuan)",
  "funds.region": "Region", "funds.case": "Case", "funds.since": "Since", "funds.members": "Members",
  "funds.monthly": "Monthly (yuan)", "funds.suspended": "Suspended", "funds.reviewDue": "Review due",
  "funds.recoveries": "Recoveries outstanding",
  "funds.recoveriesSummary": "Cases / due / ordered / recovered / outstanding (yuan)",
  "funds.paidUntil": "Paid until", "funds.periods": "Months overpaid", "funds.due": "Due", "funds.ordered": "Ordered",
  "funds.outstanding": "Outstanding", "funds.reconcile": "Bank results: reconcile",
  "funds.bankFile": "Bank result file (CSV)", "funds.columns": "Columns (optional)", "funds.doReconcile": "Reconcile",
  "funds.category": "Category", "funds.lines": "Lines", "funds.yuan": "Yuan", "funds.line": "Line",
  "funds.payment": "Payment id", "funds.bankYuan": "Bank yuan", "funds.ledgerYuan": "Ledger yuan",
  "funds.reason": "Reason", "funds.applyDate": "Record as of", "funds.apply": "Record in the ledger",
  "funds.clean": "Clean: every line matched, none missing", "funds.notClean": "Not clean: see the categories",
  "funds.linesShown": "lines shown of", "funds.confirm": "Record these bank results in the ledger as",
  "funds.recorded": "recorded", "funds.already": "already recorded", "funds.refusedN": "refused",
});
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
  for (const name of ["region", "programme", "from", "to", "asOf"]) {
    document.getElementById(name).value = q.get(name) || "";
  }
  const query = ["region", "programme", "from", "to"].map(n => `${n}=${encodeURIComponent(q.get(n) || "")}`).join("&");
  const { status, body } = await api(`totals?${query}&offset=${offset}&limit=${limit}`);
  if (status !== 200) return refuse(status, body);
  const rows = body.result.rows;
  document.querySelector("#totals tbody").replaceChildren(...rows.map(row));
  chart(rows);
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + limit >= body.total.rows;
  document.getElementById("result").hidden = false;
  await showRoll();
  await showRecoveries();
}

function cells(tr, values) {
  for (const [text, cls] of values) tr.append(el("td", text, cls));
  return tr;
}

function text(id, value) { document.getElementById(id).textContent = value; }

// The region and programme of the page's query, as a query string.
function scope() {
  const q = params();
  return ["region", "programme"].map(n => `${n}=${encodeURIComponent(q.get(n) || "")}`).join("&");
}

async function showRoll() {
  const asOf = params().get("asOf") || "";
  const { status, body } = await api(`roll?${scope()}&asOf=${encodeURIComponent(asOf)}&offset=${rollOffset}` +
                                     `&limit=${limit}`);
  if (status !== 200) return refuse(status, body);
  const r = body.result;
  document.querySelector("#roll tbody").replaceChildren(...r.cases.map(c => {
    const tr = document.createElement("tr");
    tr.dataset.case = c.caseId;
    return cells(tr, [[c.household, "household"], [c.region, "region"], [c.caseId, "case"],
                      [c.programme, "programme"], [c.sincePeriod, "period"], [c.membersCovered, "num"],
                      [yuan(c.monthlyAmountFen), "num monthly"], [c.suspended ? "✓" : "", "suspended"],
                      [c.reviewDue, "date"]]);
  }));
  text("rollCases", r.summary.cases);
  text("rollSuspended", r.summary.suspended);
  text("rollMonthly", yuan(r.summary.monthlyAmountFen));
  document.getElementById("rollPrev").disabled = rollOffset === 0;
  document.getElementById("rollNext").disabled = rollOffset + limit >= body.total.cases;
  document.getElementById("rollSection").hidden = false;
}

async function showRecoveries() {
  const { status, body } = await api(`recoveries?${scope()}&offset=${recOffset}&limit=${limit}`);
  if (status !== 200) return refuse(status, body);
  const r = body.result;
  document.querySelector("#recoveries tbody").replaceChildren(...r.cases.map(c => {
    const tr = document.createElement("tr");
    tr.dataset.recovery = c.caseId;
    return cells(tr, [[c.household, "household"], [c.caseId, "case"], [c.programme, "programme"],
                      [c.paidUntilPeriod, "period"], [c.periods.join(" "), "periods"], [yuan(c.dueFen), "num"],
                      [yuan(c.orderedFen), "num"], [yuan(c.recoveredFen), "num"], [yuan(c.outstandingFen), "num"]]);
  }));
  const m = r.summary;
  text("recoveriesCases", m.cases);
  text("recoveriesDue", yuan(m.dueFen));
  text("recoveriesOrdered", yuan(m.orderedFen));
  text("recoveriesRecovered", yuan(m.recoveredFen));
  text("recoveriesOutstanding", yuan(m.outstandingFen));
  document.getElementById("recPrev").disabled = recOffset === 0;
  document.getElementById("recNext").disabled = recOffset + limit >= body.total.cases;
  document.getElementById("recoveriesSection").hidden = false;
}

// POST /api/reconcile?QUERY of the file: {status, body}. The header is the console's CSRF guard
// (a form of another site cannot send it); the server refuses a POST without it.
async function postReconcile(query) {
  const response = await fetch("/api/reconcile?" + query, {
    method: "POST", credentials: "same-origin", body: bankText,
    headers: { "Content-Type": "text/csv", "X-Ledger-Console": "1" },
  });
  let body = null;
  try { body = await response.json(); } catch (e) { body = { error: { reason: "not JSON" } }; }
  return { status: response.status, body };
}

// A refusal of the reconcile, in its own box: the rest of the page stays.
function reconcileError(status, body) {
  const box = document.getElementById("reconcileError");
  box.replaceChildren(el("strong", `${t("refused", "拒绝")} (${status}) `),
                      el("span", body && body.error ? body.error.reason : ""));
  box.hidden = false;
}

function reconcileQuery() {
  const columns = document.getElementById("columns").value.trim();
  return `name=${encodeURIComponent(bankName)}&limit=${limit}` +
         (columns ? `&columns=${encodeURIComponent(columns)}` : "");
}

// Every category with its lines and sum, issued against settled per programme, a page of lines.
function showReconciled(r) {
  document.getElementById("reconcileError").hidden = true;
  const clean = document.getElementById("clean");
  clean.textContent = r.clean ? t("funds.clean", "无差异：每行均已匹配，无缺失") : t("funds.notClean", "有差异：见各类别");
  clean.className = "status " + (r.clean ? "ok" : "bad");
  document.querySelector("#categories tbody").replaceChildren(...r.categories.map(c => {
    const tr = document.createElement("tr");
    tr.dataset.category = c.category;
    return cells(tr, [[c.category, "category"], [c.lines, "num lines"], [yuan(c.amountFen), "num yuan"]]);
  }));
  document.querySelector("#programmes tbody").replaceChildren(...r.programmes.map(p => {
    const tr = document.createElement("tr");
    tr.dataset.programme = p.programme;
    return cells(tr, [[p.programme, "programme"], [yuan(p.issuedFen), "num"], [yuan(p.settledFen), "num"]]);
  }));
  document.querySelector("#lines tbody").replaceChildren(...r.lines.map(m => {
    const tr = document.createElement("tr");
    return cells(tr, [[m.bank ? m.bank.line : "", "num"], [m.endToEndId, "payment"], [m.category, "category"],
                      [m.bank ? yuan(m.bank.amountFen) : "", "num"], [m.ledger ? yuan(m.ledger.amountFen) : "", "num"],
                      [m.bank ? m.bank.reason : "", "reason"]]);
  }));
  document.getElementById("reconciled").hidden = false;
}

async function reconcile(event) {
  event.preventDefault();
  const file = document.getElementById("bankFile").files[0];
  if (!file) return;
  bankText = await file.text();
  bankName = file.name;
  const { status, body } = await postReconcile(reconcileQuery());
  if (status !== 200) return reconcileError(status, body);
  showReconciled(body.result);
  text("lineCount", `${body.result.lines.length} ${t("funds.linesShown", "行，共")} ${body.total.lines}`);
  text("applied", "");
  document.getElementById("appliedRefused").hidden = true;
}

// Records the file reconciled, once the user confirms: recorded, already recorded, refused.
async function apply(event) {
  event.preventDefault();
  const date = document.getElementById("applyDate").value;
  if (bankText === null || !date) return;
  const who = document.getElementById("who").textContent;
  if (!window.confirm(`${t("funds.confirm", "以下列身份将银行结果记入账本")}: ${who}, ${date}?`)) return;
  const { status, body } = await postReconcile(`${reconcileQuery()}&apply=yes&date=${encodeURIComponent(date)}`);
  if (status !== 200) return reconcileError(status, body);
  showReconciled(body.result);
  const a = body.result.applied;
  text("applied", `${t("funds.recorded", "已记入")} ${a.recorded} · ${t("funds.already", "此前已记入")} ` +
                  `${a.alreadyRecorded} · ${t("funds.refusedN", "被拒绝")} ${a.refused}`);
  const refused = document.getElementById("appliedRefused");
  refused.replaceChildren(...body.refused.map(e => el("li", e.reason)));
  refused.hidden = body.refused.length === 0;
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!(await Console.start("funds"))) return;
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); show(); });
  document.getElementById("next").addEventListener("click", () => { offset += limit; show(); });
  const page = (id, step) => document.getElementById(id).addEventListener("click", step);
  page("rollPrev", () => { rollOffset = Math.max(0, rollOffset - limit); showRoll(); });
  page("rollNext", () => { rollOffset += limit; showRoll(); });
  page("recPrev", () => { recOffset = Math.max(0, recOffset - limit); showRecoveries(); });
  page("recNext", () => { recOffset += limit; showRecoveries(); });
  document.getElementById("bankForm").addEventListener("submit", reconcile);
  document.getElementById("applyForm").addEventListener("submit", apply);
  document.addEventListener("langchange", show);
  await show();
});
