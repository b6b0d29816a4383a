// 核验 evidence: the stored checkpoints (GET /api/checkpoints, the record of `ledgerctl checkpoint
// --list yes --format json`) and the server's full verify (GET /api/verify; POST starts one, for
// auditors, inspectors and administrators), polled while it runs.
"use strict";

const { t, el, api, refuse } = Console;
let polling = null;

function checkpointRow(c) {
  const tr = document.createElement("tr");
  tr.dataset.size = c.size;
  const code = (text) => { const td = el("td"); td.append(el("code", text, "hash")); return td; };
  tr.append(el("td", c.size, "num size"), code(c.rootHash), el("td", c.households, "num households"),
            code(c.headsRoot), el("td", c.lastEntryRecordedAt, "date"));
  return tr;
}

async function showCheckpoints() {
  const { status, body } = await api("checkpoints");
  if (status !== 200) return refuse(status, body);
  const rows = body.result.checkpoints;
  document.querySelector("#checkpoints tbody").replaceChildren(...rows.map(checkpointRow));
  document.getElementById("checkpoints-none").hidden = rows.length > 0;
  document.getElementById("checkpoints-section").hidden = false;
}

// The running or last verify, in words; polled every second while it runs.
function describe(v) {
  if (v.state === "none") return [t("verify.none", "服务器启动以来尚未运行全账核验。"), ""];
  const progress = `${v.entriesChecked} / ${v.entriesTotal} ${t("verify.checked", "条已核验")}`;
  const when = `${t("verify.started", "开始")} ${v.startedAt} ${t("verify.by", "由")} ${v.actor}`;
  if (v.state === "running") return [`${t("verify.running", "核验中")}: ${progress}; ${when}`, "running"];
  const verdict = v.ok ? `✔ ${t("verify.ok", "账本核验通过")}` : `✘ ${t("verify.bad", "账本核验未通过")}: ${v.problem}`;
  return [`${t("verify.finished", "已完成")}: ${verdict}; ${progress}; ${when}; ${t("verify.ended", "完成")} ${v.finishedAt}`,
          v.ok ? "ok" : "bad"];
}

function showVerify(v) {
  const p = document.getElementById("verify");
  const [text, cls] = describe(v);
  p.textContent = text;
  p.className = "status " + cls;
  p.dataset.state = v.state;
  document.getElementById("start").disabled = v.state === "running";
  clearTimeout(polling);
  if (v.state === "running") polling = setTimeout(pollVerify, 1000);
}

async function pollVerify() {
  const { status, body } = await api("verify");
  if (status !== 200) return refuse(status, body);
  showVerify(body);
  document.getElementById("verify-section").hidden = false;
}

async function startVerify() {
  const { status, body } = await api("verify", "POST");
  const note = document.getElementById("start-refused");
  note.textContent = "";
  if (status === 202 || status === 409) return showVerify(body);  // 409: one runs already; shown.
  note.textContent = body && body.error ? body.error.reason : String(status);
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!(await Console.start("evidence"))) return;
  document.getElementById("start").addEventListener("click", startVerify);
  document.addEventListener("langchange", () => { showCheckpoints(); pollVerify(); });
  await Promise.all([showCheckpoints(), pollVerify()]);
});
