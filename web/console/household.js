// 户 household: every event of one household up to a date (GET /api/household, the replay record
// of `ledgerctl replay --format json`), its chain as checked by the ledger, a page at a time.
"use strict";

const { t, el, yuan, api, refuse, params } = Console;
const limit = 100;
let offset = 0;

function row(step) {
  const tr = document.createElement("tr");
  tr.dataset.seq = step.seq;
  tr.append(el("td", step.seq, "num seq"), el("td", step.date, "date"), el("td", step.kind, "kind"),
            el("td", step.actorId, "actor"), el("td", yuan(step.amountFen), "num amount"));
  const hash = el("td", null, "hash");
  hash.append(el("code", step.entryHash, "hash"));
  const findings = el("td", null, "findings");
  for (const f of step.findings) findings.append(el("div", `${f.rule}: ${f.message}`, "finding"));
  tr.append(hash, el("td", stateAfter(step.after), "after"), findings);
  return tr;
}

// The household after the step: its members and each case's status (and amount, once approved).
function stateAfter(after) {
  if (!after) return "";
  const cases = after.cases.map(c => `${c.caseId} ${c.programme} ${c.status}` +
                                     (c.monthlyAmountFen === null ? "" : ` ${yuan(c.monthlyAmountFen)}`));
  return [`${after.members} ${t("members", "人")}`, ...cases].join("; ");
}

async function show() {
  const q = params();
  const id = q.get("id");
  if (!id) return;
  document.getElementById("id").value = id;
  document.getElementById("asOf").value = q.get("asOf") || "";
  const asOf = (q.get("asOf") || "").replaceAll("-", "");
  const path = `household?id=${encodeURIComponent(id)}&asOf=${asOf}&offset=${offset}&limit=${limit}`;
  const { status, body } = await api(path);
  if (status !== 200) return refuse(status, body);
  const r = body.result;
  const chain = document.getElementById("chain");
  chain.textContent = body.chainVerified ? `✔ ${t("chain.ok", "户链已核验，最后条目哈希")} ${r.lastEntryHash}`
                                         : t("chain.bad", "户链核验失败");
  chain.className = "status " + (body.chainVerified ? "ok" : "bad");
  document.getElementById("count").textContent =
      `${r.steps.length} ${t("events.of", "条，共")} ${body.total.steps} (${r.events})`;
  document.querySelector("#steps tbody").replaceChildren(...r.steps.map(row));
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + limit >= body.total.steps;
  // The household-completeness proof at the latest checkpoint (GET /api/household-proof).
  document.getElementById("proof").href = `/api/household-proof?id=${encodeURIComponent(id)}`;
  document.getElementById("result").hidden = false;
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!(await Console.start("household"))) return;
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); show(); });
  document.getElementById("next").addEventListener("click", () => { offset += limit; show(); });
  document.addEventListener("langchange", show);
  await show();
});
