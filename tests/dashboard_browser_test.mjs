// The dashboard in a real browser: headless Chromium (Debian's) driven by playwright-core, against
// a real `remora run` and `remora serve`. The page shows the graph; question cards appear and fit a
// phone-width screen; one is answered by a click; its agent completes; its diff is opened and
// accepted from the agent's page, and the file on disk changes; its log tail shows; a restore
// beside the run is refused. Then a 1,000-agent graph: grouped, every node inside the graph view.
// Screenshots are saved as artifacts (dashboard-graph.png, dashboard-phone.png, dashboard-1000.png
// in the working directory).
//   node dashboard_browser_test.mjs REMORA_BIN PLAYWRIGHT_CORE_DIR [CHROMIUM]
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const [remora, playwrightDir, chromium = "/usr/bin/chromium"] = process.argv.slice(2);
const { chromium: launcher } = createRequire(import.meta.url)(playwrightDir);

const dir = mkdtempSync(join(tmpdir(), "remora-browser-"));
const children = [];
function fail(message) {
  console.error("FAIL: " + message);
  process.exitCode = 1;
  throw new Error(message);
}
function start(args) {
  const child = spawn(remora, ["-w", join(dir, "ws"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  children.push(child);
  return { child, output: () => out, exited: new Promise((resolve) => child.on("exit", resolve)) };
}
async function until(what, fn, ms = 60000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) fail("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let browser;
try {
  mkdirSync(join(dir, "project"));
  writeFileSync(join(dir, "project", "a.py"), "a = 1\n");
  writeFileSync(join(dir, "project", "b.py"), "b = 1\n");
  mkdirSync(join(dir, "bundles", "word"), { recursive: true });
  writeFileSync(join(dir, "bundles", "word", "bundle.yaml"),
    "name: word\nkind: steps\nsteps:\n" +
    "  - ask: {question: \"<img src=x onerror=alert(1)> word for {target}, a long question that must wrap on a phone?\", " +
    "options: [alpha, beta], default: alpha, timeout: 600}\n" +
    "  - write: {path: \"{target}\", content: \"{answer} = 2\\n\"}\n" +
    "  - result: {summary: \"<script>alert(2)</script>\"}\n");
  const run = start(["run", join(dir, "project"), "--bundles-dir", join(dir, "bundles"), "--bundle", "word", "--serve",
                     "--listen", "127.0.0.1:0", "--json"]);
  const url = await until("the dashboard's link", () => (run.output().match(/http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/) || [])[0]);

  browser = await launcher.launch({ executablePath: chromium, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on("pageerror", (e) => console.error("page error: " + e.message));
  await page.goto(url);
  if (page.url().includes("token=")) fail("the token stayed in the address bar: " + page.url());
  // The graph: one node per agent.
  await page.waitForSelector('#graph g.node[data-agent="word.a.py"]');
  await page.waitForSelector('#graph g.node[data-agent="word.b.py"]');
  // Both questions as cards, their text as text.
  await page.waitForSelector('.card.question[data-question="word.b.py.0"]');
  const card = page.locator('.card.question[data-question="word.a.py.0"]');
  await card.waitFor();
  if (!(await card.innerText()).includes("<img src=x onerror=alert(1)>")) fail("the question's text is not shown as text");
  if (await page.locator(".card img").count()) fail("the question's markup was rendered");
  await page.screenshot({ path: "dashboard-graph.png", fullPage: true });

  // A phone: the card fits without horizontal scrolling.
  const phone = await browser.newPage({ viewport: { width: 375, height: 740 }, isMobile: true });
  await phone.goto(url);
  await phone.waitForSelector('.card.question[data-question="word.a.py.0"]');
  const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  if (widths.scroll > widths.client) fail(`horizontal scrolling on a phone: ${widths.scroll} > ${widths.client}`);
  await phone.screenshot({ path: "dashboard-phone.png" });
  await phone.close();

  // Answered by a click: the agent completes.
  await card.locator('button[data-answer="beta"]').click();
  await page.waitForSelector('#graph g.node[data-agent="word.a.py"][data-state="completed"]');
  // Its page, its diff, accept: the file on disk changes.
  await page.click('#graph g.node[data-agent="word.a.py"] rect');
  await page.waitForSelector("pre.diff");
  if (!(await page.locator("pre.diff").innerText()).includes("+beta = 2")) fail("the diff does not show the change");
  if (!(await page.locator("main").innerText()).includes("<script>alert(2)</script>")) fail("the summary is not shown as text");
  // Its log tail, as text.
  await page.waitForSelector("pre.log");
  await page.click("text=Accept");
  await until("a.py on disk to change", () => readFileSync(join(dir, "project", "a.py"), "utf8") === "beta = 2\n");
  if (dialogs.length) fail("a dialog opened: " + dialogs.join(", "));
  // Restore beside a run (`run --serve`): refused with 409, the run's supervisor holds the workspace.
  const refused = await page.evaluate(async () => {
    const r = await fetch("/api/restore", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify({checkpoint: "any"})});
    return [r.status, (await r.json()).error];
  });
  if (refused[0] !== 409 || !refused[1].includes("remora restore")) fail("a restore beside the run was not refused: " + refused);
  await page.close();
  console.log("ok: graph shown, question answered by a click, diff accepted, file on disk changed; phone width fits; restore beside a run refused");

  // 1,000 agents (trivial steps agents, the built-in provider): the graph view groups them and fits
  // them in its box; its screenshot is dashboard-1000.png.
  const bigDir = join(dir, "big");
  mkdirSync(join(bigDir, "bundles", "ok"), { recursive: true });
  writeFileSync(join(bigDir, "bundles", "ok", "bundle.yaml"),
    "name: ok\nkind: steps\nsteps:\n  - write: {path: \"out/{agent}.txt\", content: \"done\"}\n  - result: {summary: ok}\n");
  let graph = "config: {max_concurrency: 8}\nagents:\n";
  for (let i = 0; i < 1000; ++i) graph += `  - {id: a${String(i).padStart(4, "0")}, bundle: ok${i >= 500 ? ", after: [a" + String(i - 500).padStart(4, "0") + "]" : ""}}\n`;
  writeFileSync(join(bigDir, "graph.yaml"), graph);
  const bigRun = spawn(remora, ["-w", join(bigDir, "ws"), "run", join(bigDir, "graph.yaml"), "--serve", "--listen", "127.0.0.1:0", "--json"],
                       { stdio: ["ignore", "pipe", "pipe"] });
  children.push(bigRun);
  let bigOut = "";
  bigRun.stdout.on("data", (d) => { bigOut += d; });
  bigRun.stderr.on("data", (d) => { bigOut += d; });
  const bigUrl = await until("the 1,000-agent dashboard's link", () => (bigOut.match(/http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/) || [])[0]);
  const view = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  view.on("pageerror", (e) => { console.error("page error: " + e.message); process.exitCode = 1; });
  await view.goto(bigUrl);
  await until("1,000 nodes in the graph", async () => (await view.locator("#graph g.node").count()) === 1000);
  await until("some agents completed", async () => (await view.locator('#graph g.node[data-state="completed"]').count()) >= 20);
  await view.waitForSelector("#group-by");
  // Every node inside the drawing's box, and big enough to see and click.
  const fit = await view.evaluate(() => {
    const box = document.getElementById("graph").getBoundingClientRect();
    let outside = 0, smallest = Infinity;
    for (const r of document.querySelectorAll("#graph g.node rect")) {
      const b = r.getBoundingClientRect();
      if (b.left < box.left - 1 || b.right > box.right + 1 || b.top < box.top - 1 || b.bottom > box.bottom + 1) ++outside;
      smallest = Math.min(smallest, b.width, b.height);
    }
    return { outside, smallest, groups: document.querySelectorAll("#graph text.group").length };
  });
  if (fit.outside) fail(fit.outside + " of 1,000 nodes are outside the graph view");
  if (fit.smallest < 4) fail("nodes are drawn " + fit.smallest.toFixed(1) + " px small: unreadable");
  if (fit.groups < 1) fail("no group labels in a 1,000-agent graph");
  await view.screenshot({ path: "dashboard-1000.png" });
  await view.selectOption("#group-by", "bundle");
  await until("the graph grouped by bundle", async () => (await view.locator("#graph text.group").first().textContent()).startsWith("ok ("));
  console.log(`ok: 1,000 agents drawn inside the view (smallest node ${fit.smallest.toFixed(1)} px, ${fit.groups} groups); dashboard-1000.png saved`);
} catch (e) {
  if (!process.exitCode) console.error("FAIL: " + (e.stack || e));
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  // Each run stopped and gone (30 s each at most, then killed) before its directory is removed: a
  // supervisor still ending its workers writes their logs meanwhile.
  await Promise.all(children.map((c) => new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const force = setTimeout(() => c.kill("SIGKILL"), 30000);
    c.on("exit", () => { clearTimeout(force); resolve(); });
    c.kill("SIGTERM");
  })));
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
}
