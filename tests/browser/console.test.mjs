// The console in Debian's headless Chromium, against a running Spinpost (the Rust test
// tests/e2e/console.rs starts it with a fake platform API and a ticking scheduler, then runs this):
// log in, create a template and preview it, create and start a WhatsApp campaign to imported
// subscribers, watch it reach 100%, post delivery and read receipts to the webhook and see the open
// rate and its chart follow; axe-core on every view; screenshots in artifacts/.
//
// Environment: SPINPOST_URL, SPINPOST_ADMIN_TOKEN, SPINPOST_WHATSAPP_APP_SECRET,
// SPINPOST_WHATSAPP_PHONE_NUMBER_ID, CHROMIUM (default /usr/bin/chromium), ARTIFACTS_DIR.

import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";
import axe from "axe-core";

const here = dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env("SPINPOST_URL");
const TOKEN = env("SPINPOST_ADMIN_TOKEN");
const APP_SECRET = env("SPINPOST_WHATSAPP_APP_SECRET");
const PHONE_NUMBER_ID = env("SPINPOST_WHATSAPP_PHONE_NUMBER_ID");
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
const ARTIFACTS = env("ARTIFACTS_DIR", join(here, "artifacts"));
const CHANNEL = `whatsapp:${PHONE_NUMBER_ID}`;
const NAMES = ["Ada", "Grace", "Edsger", "Barbara", "Alan", "Frances", "Donald", "Radia", "Ken", "Margaret", "Dennis", "Hedy"];
const PEOPLE = NAMES.map((name, i) => [`9725900001${String(i).padStart(2, "0")}`, name]);
const WAIT = { timeout: 60_000 };

mkdirSync(ARTIFACTS, { recursive: true });
const step = (text) => console.log(`console test: ${text}`);

async function apiCall(method, path, body, headers = {}) {
  const response = await fetch(`${BASE}${path}`, {
    method, body, headers: { authorization: `Bearer ${TOKEN}`, ...headers },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// WhatsApp's status notification for `statuses`, signed with the app secret as Meta signs it.
async function postStatuses(statuses) {
  const fixture = JSON.parse(readFileSync(join(here, "../fixtures/whatsapp/webhook_status_delivered.json"), "utf8"));
  const payload = fixture.payload;
  const value = payload.entry[0].changes[0].value;
  const template = value.statuses[0];
  const now = String(Math.floor(Date.now() / 1000));
  value.statuses = statuses.map(({ id, status, recipient }) => ({ ...template, id, status, recipient_id: recipient, timestamp: now }));
  const body = JSON.stringify(payload);
  const signature = `sha256=${createHmac("sha256", APP_SECRET).update(body).digest("hex")}`;
  const response = await fetch(`${BASE}/webhooks/whatsapp`, {
    method: "POST", body, headers: { "content-type": "application/json", "x-hub-signature-256": signature },
  });
  if (response.status !== 200) throw new Error(`status webhook: ${response.status} ${await response.text()}`);
}

const problems = [];
async function checkAccessibility(page, name) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
  }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of serious) {
    problems.push(`axe on ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`);
  }
  const found = result.violations.map((v) => `${v.id} (${v.impact})`).join(", ") || "none";
  step(`axe on ${name}: ${result.passes.length} rules passed; violations: ${found}`);
}

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const textOf = (page, selector) => page.$eval(selector, (e) => e.textContent.trim());

// Follow a link of the navigation and wait for its view.
async function openView(page, href, title) {
  await page.click(`#nav a[href="${href}"]`);
  await page.waitForFunction((t) => document.getElementById("view-title")?.textContent === t, WAIT, title);
}

// Open the "New …" form of a view and type `fields` (selector → text) into it.
async function fillNewForm(page, href, title, fields) {
  await openView(page, href, title);
  await page.click("details summary");
  for (const [selector, text] of Object.entries(fields)) await page.type(selector, text);
}

async function fill(page, selector, text) {
  await page.click(selector, { clickCount: 3 });
  await page.type(selector, text);
}

// ---- the subscribers the campaign goes to, imported over the API ---------------------------------
step("importing subscribers");
const lines = PEOPLE.map(([address, firstName]) => JSON.stringify({
  channel: CHANNEL, address, first_name: firstName, tags: ["console-test"],
  consent: { at: "2026-10-01T00:00:00Z", source: "checkout", evidence: `order-${address}` },
}));
const imported = await apiCall("POST", "/api/v1/subscribers/import", lines.join("\n"));
if (imported.created !== PEOPLE.length) throw new Error(`import: ${JSON.stringify(imported)}`);

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // The wrong token of the login check is answered 401 on purpose; anything else is a fault.
    if (message.type() === "error" && !message.text().includes("status of 401")) {
      pageErrors.push(`console error: ${message.text()}`);
    }
  });

  // ---- log in --------------------------------------------------------------------------------------
  step("logging in");
  const response = await page.goto(`${BASE}/console`, { waitUntil: "networkidle0" });
  const csp = response.headers()["content-security-policy"] ?? "";
  if (!csp.startsWith("default-src 'self'")) throw new Error(`content-security-policy: '${csp}'`);
  await page.waitForSelector("#login-token", { visible: true });
  await checkAccessibility(page, "login");
  await shot(page, "01-login");
  // The page opens with the token field focused; Tab reaches the button, Enter presses it.
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== "login-token") throw new Error(`the page opens focused on '${focused}', not the token field`);
  await page.keyboard.type("wrong-token");
  await page.keyboard.press("Tab");
  const button = await page.evaluate(() => document.activeElement?.textContent);
  if (button !== "Log in") throw new Error(`Tab from the token field focuses '${button}', not the button`);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("login-error").textContent.includes("refused"), WAIT);
  await fill(page, "#login-token", TOKEN);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("view-title")?.textContent === "Campaigns", WAIT);
  const kept = await page.evaluate(() => sessionStorage.getItem("spinpost.adminToken"));
  if (kept !== TOKEN) throw new Error("the token is not kept in the session");
  if (page.url().includes(TOKEN)) throw new Error("the token shows in the URL");

  // ---- a template and its preview --------------------------------------------------------------------
  step("creating a template");
  await fillNewForm(page, "#/templates", "Templates", {
    "#new-template-name": "Console promo",
    "#new-template-id": "console-promo",
    "#new-template-text": "Hi {{ subscriber.first_name }}! Your code: {{ campaign.variables.code }}",
    "#new-template-wa_name": "winter_promo",
    "#new-template-wa_language": "en_US",
    "#new-template-wa_parameters": "{{ subscriber.first_name }}\n{{ campaign.variables.code }}",
  });
  await page.click("#new-template-ratings");
  await checkAccessibility(page, "templates with the new-template form");
  await page.click("#new-template button[type=submit]");
  await page.waitForFunction(() => document.getElementById("preview-template")?.value === "console-promo", WAIT);

  step("previewing it for Ada");
  await page.select("#preview-subscriber", `${CHANNEL}:${PEOPLE[0][0]}`);
  await page.type("#preview-variables", "code=SNOW-26");
  await page.waitForFunction(
    () => document.getElementById("preview-text")?.textContent === "Hi Ada! Your code: SNOW-26", WAIT);
  await checkAccessibility(page, "templates with a preview");
  await shot(page, "02-template-preview");

  // ---- a campaign, started from the console ----------------------------------------------------------
  step("creating and starting a campaign");
  await fillNewForm(page, "#/campaigns", "Campaigns", {
    "#new-campaign-name": "Console winter",
    "#new-campaign-id": "console-winter",
    "#new-campaign-channel": CHANNEL,
    "#new-campaign-variables": "code=SNOW-26",
    "#new-campaign-all_tags": "console-test",
  });
  await page.select("#new-campaign-template", "console-promo");
  await checkAccessibility(page, "campaigns with the new-campaign form");
  await page.click("#new-campaign button[type=submit]");
  await page.waitForFunction(() => document.getElementById("view-title")?.textContent === "Campaign Console winter", WAIT);

  step("watching the progress reach 100%");
  const seen = new Set();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pct = await textOf(page, ".pct");
    seen.add(`${pct} (time left ${await textOf(page, '[data-figure="left"]')})`);
    if (pct === "100%") break;
    if (Date.now() > deadline) throw new Error(`progress stuck at ${pct}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await page.waitForFunction(() => document.querySelector(".campaign .badge")?.textContent === "completed", WAIT);
  await page.waitForFunction((n) => document.querySelectorAll("tbody .d-sent").length === n, WAIT, PEOPLE.length);
  step(`progress seen: ${[...seen].join(" → ")}`);
  await checkAccessibility(page, "a completed campaign");
  await shot(page, "03-campaign-completed");

  // ---- receipts: every message delivered, half of them read ------------------------------------------
  step("posting delivery and read receipts");
  const ledger = await apiCall("GET", "/api/v1/campaigns/console-winter/deliveries");
  const sent = ledger.items.flatMap((batch) => batch.entries).map((e) => ({
    id: e.outcome.message_id, recipient: e.subscriber.split(":").pop(),
  }));
  if (sent.length !== PEOPLE.length || sent.some((m) => !m.id)) throw new Error(`ledger: ${JSON.stringify(ledger)}`);
  await postStatuses(sent.map((m) => ({ ...m, status: "delivered" })));
  await page.waitForFunction(
    (n) => document.querySelector('[data-figure="delivered"]')?.textContent === String(n), WAIT, PEOPLE.length);
  await page.waitForFunction(
    () => document.querySelector("#open-rate-chart desc")?.textContent.includes("Open rate: 0%"), WAIT);
  await postStatuses(sent.slice(0, PEOPLE.length / 2).map((m) => ({ ...m, status: "read" })));
  await page.waitForFunction(() => document.querySelector('[data-figure="open_rate"]')?.textContent === "50%", WAIT);
  await page.waitForFunction(
    () => document.querySelector("#open-rate-chart desc")?.textContent.includes("Open rate: 50%"), WAIT);
  const chartPoints = await page.$eval("#open-rate-chart polyline", (line) => line.getAttribute("points").split(" ").length);
  if (chartPoints < 3) throw new Error(`the open-rate chart has ${chartPoints} points`);
  step(`open rate 50% after receipts; the chart holds ${chartPoints} samples`);
  await shot(page, "04-open-rate");

  // ---- subscribers, with a filter and a search ---------------------------------------------------------
  step("listing subscribers");
  await openView(page, "#/subscribers", "Subscribers");
  await page.type("#filter-tag", "console-test");
  await page.click(".filters button[type=submit]");
  await page.waitForFunction((n) => document.querySelectorAll("tbody tr").length === n, WAIT, PEOPLE.length);
  await page.type("#filter-search", "grace");
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1, WAIT);
  await checkAccessibility(page, "subscribers");
  await shot(page, "05-subscribers");

  // ---- a phone-sized screen ------------------------------------------------------------------------------
  step("checking a 375 px wide screen");
  await page.setViewport({ width: 375, height: 812, isMobile: true, hasTouch: true });
  for (const [hash, name] of [["#/campaigns/console-winter", "06-phone-campaign"], ["#/templates", "07-phone-templates"]]) {
    await page.goto(`${BASE}/console${hash}`, { waitUntil: "networkidle0" });
    await page.waitForSelector("#view-title", WAIT);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 375) problems.push(`${hash} is ${width} px wide on a 375 px screen`);
    await checkAccessibility(page, `${hash} at 375 px`);
    await shot(page, name);
  }

  problems.push(...pageErrors);
} finally {
  await browser.close();
}

if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
step(`passed; screenshots in ${ARTIFACTS}`);
