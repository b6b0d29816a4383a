// 线索 red flags: the findings of `ledgerctl trace` (GET /api/trace) for a region prefix (by
// default the actor's jurisdiction) or an actor, filtered by rule on the server, a page at a
// time; each row links to its household.
"use strict";

const { t, el, api, refuse, params } = Console;
const limit = 100;
let offset = 0;

function row(flag) {
  const tr = document.createElement("tr");
  tr.dataset.seq = flag.seq;
  const household = el("td", null, "household");
  if (flag.household) {
    const a = el("a", flag.household);
    a.href = "/household.html?id=" + encodeURIComponent(flag.household);
    household.append(a);
  }
  tr.append(el("td", flag.rule, "rule"), el("td", flag.message, "message"), el("td", flag.seq, "num seq"), household,
            el("td", flag.eventIds.join(" "), "events"));
  return tr;
}

async function show() {
  const q = params();
  for (const name of ["region", "actor", "rule"]) document.getElementById(name).value = q.get(name) || "";
  const scope = q.get("actor") ? `actor=${encodeURIComponent(q.get("actor"))}`
                               : `region=${encodeURIComponent(q.get("region") || "")}`;
  const rule = encodeURIComponent(q.get("rule") || "");
  const { status, body } = await api(`trace?${scope}&rule=${rule}&offset=${offset}&limit=${limit}`);
  if (status !== 200) return refuse(status, body);
  const flags = body.result.flags;
  document.getElementById("count").textContent =
      `${body.total.flags} ${t("flags.count", "条线索")} (${offset + 1}–${offset + flags.length})`;
  document.querySelector("#flags tbody").replaceChildren(...flags.map(row));
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + limit >= body.total.flags;
  // Every flag of the same query, not just this page (GET /api/trace.csv).
  document.getElementById("csv").href = `/api/trace.csv?${scope}&rule=${rule}`;
  document.getElementById("xlsx").href = `/api/trace.xlsx?${scope}&rule=${rule}`;
  document.getElementById("result").hidden = false;
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!(await Console.start("flags"))) return;
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); show(); });
  document.getElementById("next").addEventListener("click", () => { offset += limit; show(); });
  document.addEventListener("langchange", show);
  await show();
});
