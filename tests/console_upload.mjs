// What chromium's --dump-dom cannot do, for tests/console_test.cc: choose a file in the funds
// page's file input, reconcile it and, given a date, record it, accepting the confirmation
// dialog. Drives Debian's chromium headless over the DevTools protocol on a pipe
// (--remote-debugging-pipe: no library, no socket), then prints the page's DOM.
//
//   node console_upload.mjs URL BANK_FILE APPLY_DATE|- PROFILE_DIR
import { spawn } from "node:child_process";

const [url, file, date, profile] = process.argv.slice(2);
const chrome = spawn("chromium", ["--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                                  "--no-first-run", "--remote-debugging-pipe", `--user-data-dir=${profile}`],
                     { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
const fail = (why) => { process.stderr.write(`console_upload: ${why}\n`); chrome.kill("SIGKILL"); process.exit(1); };
setTimeout(() => fail("took over 45 s"), 45000).unref();

// Messages are JSON, each ended by a NUL.
let next = 0, input = Buffer.alloc(0);
const waiting = new Map(), events = [];
chrome.stdio[4].on("data", (data) => {
  input = Buffer.concat([input, data]);
  for (let end; (end = input.indexOf(0)) >= 0; input = input.subarray(end + 1)) {
    const m = JSON.parse(input.subarray(0, end).toString());
    if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); } else events.forEach(e => e(m));
  }
});
function send(method, params = {}, sessionId = undefined) {
  return new Promise((resolve, reject) => {
    const m = { id: ++next, method, params, sessionId };
    waiting.set(m.id, r => r.error ? reject(new Error(`${method}: ${JSON.stringify(r.error)}`)) : resolve(r.result));
    chrome.stdio[3].write(JSON.stringify(m) + "\0");
  });
}

async function main() {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  const value = async (expression) =>
      (await page("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true })).result.value;
  const until = async (expression) => {
    for (let i = 0; i < 400; ++i) {
      if (await value(expression)) return;
      await new Promise(r => setTimeout(r, 100));
    }
    fail(`never true: ${expression}`);
  };
  events.push((m) => {  // The apply's confirmation: the user says yes.
    if (m.method === "Page.javascriptDialogOpening") page("Page.handleJavaScriptDialog", { accept: true });
  });
  await page("Page.enable");
  await page("Page.navigate", { url });
  await until(`document.getElementById("rollSection") && !document.getElementById("rollSection").hidden`);
  const { root } = await page("DOM.getDocument");
  const { nodeId } = await page("DOM.querySelector", { nodeId: root.nodeId, selector: "#bankFile" });
  await page("DOM.setFileInputFiles", { nodeId, files: [file] });
  await value(`document.getElementById("bankForm").requestSubmit()`);
  await until(`!document.getElementById("reconciled").hidden || !document.getElementById("reconcileError").hidden`);
  if (date !== "-") {
    await value(`document.getElementById("applyDate").value = "${date}"; document.getElementById("applyForm").requestSubmit()`);
    await until(`document.getElementById("applied").textContent !== "" || !document.getElementById("reconcileError").hidden`);
  }
  process.stdout.write(await value("document.documentElement.outerHTML"));
  await send("Browser.close").catch(() => {});
  process.exit(0);
}
main().catch(e => fail(e.message));
