// Shared by the console's pages: labels in Chinese or English, the signed-in actor, the JSON API
// (/api/..., the ledger's result records) and money as yuan from integer fen. No library.
"use strict";

const Console = (() => {
  const labels = {
    en: {
      "title": "Benefit Ledger console", "nav.household": "Household", "nav.flags": "Red flags", "nav.funds": "Funds",
      "index.funds": "Funds: totals by programme and month", "funds.programme": "Programme", "funds.from": "From",
      "funds.to": "To", "funds.period": "Month", "funds.allocated": "Allocated", "funds.issued": "Issued",
      "funds.settled": "Settled", "funds.failed": "Failed", "funds.returned": "Returned",
      "funds.recovered": "Recovered", "funds.balance": "Balance",
      "index.intro": "Choose a page: Household (every event of one household, its chain checked) or Red flags (by region).",
      "index.household": "Household: timeline", "index.flags": "Red flags",
      "household.id": "Household", "household.asOf": "As of", "show": "Show",
      "col.seq": "Seq", "col.date": "Date", "col.kind": "Event", "col.actor": "Actor", "col.amount": "Amount (yuan)",
      "col.hash": "Entry hash", "col.after": "State after", "members": "members", "col.findings": "Red flags", "col.rule": "Rule", "col.message": "Finding",
      "col.household": "Household", "col.events": "Events",
      "chain.ok": "Household chain verified; last entry hash", "chain.bad": "Chain check FAILED",
      "events.of": "events shown of", "flags.region": "Region prefix", "flags.rule": "Rule", "flags.actor": "Actor",
      "flags.count": "red flags", "prev": "Previous", "next": "Next", "refused": "Refused", "signedIn": "Signed in as",
      "none": "none",
    },
    zh: {},  // The pages are written in Chinese: their own text is the Chinese label.
  };
  // The evidence page, the proof download and sign-out (console_evidence.cc).
  Object.assign(labels.en, {
    "nav.evidence": "Evidence", "signOut": "Sign out", "household.proof": "Download proof",
    "evidence.checkpoints": "Checkpoints", "evidence.verify": "Full verify", "evidence.start": "Start a full verify",
    "col.size": "Size (entries)", "col.root": "Root", "col.households": "Households", "col.headsRoot": "Heads root",
    "col.recordedAt": "Last entry recorded at", "verify.none": "No verify has run since the server started.",
    "verify.running": "Running", "verify.finished": "Finished", "verify.ok": "the ledger verifies",
    "verify.bad": "the ledger does NOT verify", "verify.checked": "entries checked", "verify.started": "started",
    "verify.by": "by", "verify.ended": "finished", "checkpoints.none": "No checkpoint yet.", "flags.csv": "Export CSV (all rows)", "flags.xlsx": "Export Excel (all rows)",
  });
  let lang = localStorage.getItem("lang") === "en" ? "en" : "zh";
  const original = new Map();

  // The label of `key` in the current language (Chinese: `zh`, the page's own text).
  function t(key, zh) {
    return lang === "en" && labels.en[key] ? labels.en[key] : zh;
  }

  function applyLabels() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) {
      if (!original.has(el)) original.set(el, el.textContent);
      el.textContent = t(el.dataset.i18n, original.get(el));
    }
    const button = document.getElementById("lang");
    if (button) button.textContent = lang === "en" ? "中文" : "English";
  }

  // Text into a new element: never HTML from the ledger.
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  // Integer fen as yuan with two decimals, exactly (no floating point): -5 -> "-0.05".
  function yuan(fen) {
    if (fen === null || fen === undefined) return "";
    const neg = fen < 0, abs = Math.abs(fen);
    return (neg ? "-" : "") + Math.floor(abs / 100) + "." + String(abs % 100).padStart(2, "0");
  }

  // GET (or POST) /api/PATH: {status, body}. 401 (no session) and 403 (refused) show the refusal.
  // A POST carries the header the server asks of every POST (no cross-site form can send it).
  async function api(path, method = "GET") {
    const post = method === "POST";
    const response = await fetch("/api/" + path, {
      method, credentials: "same-origin", headers: post ? { "X-Ledger-Console": "1" } : {},
    });
    let body = null;
    try { body = await response.json(); } catch (e) { body = { error: { reason: "not JSON" } }; }
    return { status: response.status, body };
  }

  function refuse(status, body) {
    const box = document.getElementById("refusal");
    box.replaceChildren();
    const reason = body && body.error ? body.error.reason : "";
    box.append(el("strong", `${t("refused", "拒绝")} (${status}) `), el("span", reason));
    if (body && body.signIn) box.append(el("pre", body.signIn, "command"));
    box.hidden = false;
    for (const e of document.querySelectorAll(".data")) e.hidden = true;  // Never data beside a refusal.
  }

  // The pages of the menu, in its order: href, label key, Chinese label.
  const pages = [["/household.html", "nav.household", "户"], ["/flags.html", "nav.flags", "线索"],
                 ["/funds.html", "nav.funds", "资金"], ["/evidence.html", "nav.evidence", "核验"]];

  function labelled(tag, key, zh) {
    const e = el(tag, zh);
    e.dataset.i18n = key;
    return e;
  }

  // Every page's header, the one place it is written: the title, the menu (`page` marked), who is
  // signed in, the language switch and sign-out.
  function buildHeader(page) {
    const header = document.querySelector("header");
    const nav = el("nav");
    for (const [href, key, zh] of pages) {
      const a = labelled("a", key, zh);
      a.href = href;
      if (href === "/" + page + ".html") a.classList.add("here");
      nav.append(a);
    }
    const who = el("span", "", "who");
    who.id = "who";
    const button = el("button", "English");  // applyLabels names the other language.
    button.type = "button";
    button.id = "lang";
    const out = labelled("button", "signOut", "退出登录");
    out.type = "button";
    out.id = "signout";
    out.addEventListener("click", async () => {
      await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-Ledger-Console": "1" } });
      location.href = "/";  // Now the sign-in page.
    });
    header.replaceChildren(labelled("h1", "title", "低保账本控制台"), nav, who, button, out);
  }

  async function start(page) {
    buildHeader(page);
    const button = document.getElementById("lang");
    button.addEventListener("click", () => {
      lang = lang === "en" ? "zh" : "en";
      localStorage.setItem("lang", lang);
      applyLabels();
      document.dispatchEvent(new Event("langchange"));
    });
    applyLabels();
    const who = await api("whoami");
    if (who.status !== 200) { refuse(who.status, who.body); return null; }
    const w = who.body;
    document.getElementById("who").textContent =
        `${t("signedIn", "已登录")}: ${w.actorId} (${w.role}, ${w.jurisdiction || "*"})`;
    return w;
  }

  function params() { return new URLSearchParams(location.search); }

  // A page's own English labels, beside these (call before start).
  function addLabels(en) { Object.assign(labels.en, en); }

  return { t, el, yuan, api, refuse, start, params, applyLabels, addLabels };
})();
