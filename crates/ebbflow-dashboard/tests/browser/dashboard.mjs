// The dashboard in headless Chromium: sign-in, the queues page, a queue with
// its charts, a search by body text, a redrive of one dead letter back to its
// source, a read-only key with no action and its posts refused, dark mode.
//
//   node dashboard.mjs http://127.0.0.1:PORT/ui [SCREENSHOT_DIR]
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const failures = [];
let step = "";
async function check(name, body) {
  step = name;
  try {
    await body();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}\n${e.stack || e}`);
  }
}
async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
}
async function signIn(context, id, secret) {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/ui\/login$/, "sent to the sign-in page");
  await page.fill("#access_key_id", id);
  await page.fill("#secret", secret);
  await page.click("#sign-in");
  await page.waitForURL(`${base}/`);
  return page;
}

const operator = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
const page = await signIn(operator, "operator", "operator-secret");

await check("the queues page lists each queue with its counts and its DLQ", async () => {
  const rows = page.locator("tbody tr");
  assert.equal(await rows.count(), 2, "history queues are not listed");
  const orders = page.locator("tbody tr").first();
  assert.match(await orders.innerText(), /orders\s+31\s+0\s+0/);
  assert.match(await page.locator("tbody").innerText(), /DLQ of orders/);
  await shot(page, "queues");
});

await check("a queue shows its messages, charts and the autoscaler's changes", async () => {
  await page.click('a[href="/ui/queues/orders"]');
  await page.waitForURL(`${base}/queues/orders`);
  assert.match(await page.locator("#counts").innerText(), /31 visible/);
  assert.equal(await page.locator("#messages tbody tr").count(), 31);
  for (const id of ["throughput", "depth", "latency", "workers"]) {
    const line = page.locator(`#${id} svg polyline`).first();
    const box = await line.boundingBox();
    assert.ok(box && box.width > 100, `the ${id} chart draws its line`);
  }
  assert.match(await page.locator("#decisions").innerText(), /8\s+24\s+\d+\s+backlog/);
  await page.locator("#history").scrollIntoViewIfNeeded();
  await shot(page, "queue");
  await page.evaluate(() => window.scrollTo(0, 0));
});

await check("a message is found by text in its body", async () => {
  await page.fill("#q", "needle-4242");
  await page.click("#search");
  await page.waitForURL(/\/search\?q=needle-4242/);
  assert.match(await page.locator("#found").innerText(), /^1 found in 31 messages/);
  assert.match(await page.locator("#messages").innerText(), /"order": 4242/);
});

await check("a test message is sent from the form", async () => {
  await page.goto(`${base}/queues/orders`);
  await page.click("text=Send a test message");
  await page.fill("#body", '{"order": 7777}');
  await page.fill("#attributes", "tenant=initech");
  await page.click("#send");
  await page.waitForURL(/\?sent=/);
  assert.match(await page.locator("#notice").innerText(), /^Sent message/);
  assert.match(await page.locator("#counts").innerText(), /32 visible/);
});

await check("one message is deleted from its row, after a confirmation", async () => {
  page.once("dialog", (dialog) => dialog.accept());
  const row = page.locator("#messages tbody tr", { hasText: '"order": 7777' });
  await row.locator("button[data-delete]").click();
  await page.waitForURL(/\?deleted=/);
  assert.match(await page.locator("#notice").innerText(), /^Deleted message/);
  assert.match(await page.locator("#counts").innerText(), /31 visible/);
});

await check("a dead letter is redriven to its source, with progress", async () => {
  await page.goto(`${base}/queues/orders-dlq`);
  assert.match(await page.locator("body").innerText(), /Dead letters by reason/);
  await page.locator("h2", { hasText: "Dead letters by reason" }).scrollIntoViewIfNeeded();
  await shot(page, "dead-letters");
  const row = page.locator("#messages tbody tr", { hasText: "card-declined-2" });
  await row.locator('input[type=checkbox][name=id]').check();
  await page.click("#start-redrive");
  await page.waitForURL(/\/redrives\/\d+$/);
  await page.waitForSelector("text=State: done", { timeout: 15000 });
  assert.match(await page.locator("#moved").innerText(), /^1$/);
  await page.goto(`${base}/queues/orders/search?q=card-declined-2`);
  assert.match(await page.locator("#found").innerText(), /^1 found/);
  await page.goto(`${base}/queues/orders-dlq`);
  assert.match(await page.locator("#counts").innerText(), /^3 visible/);
});

await check("the theme can be switched to dark and back", async () => {
  await page.goto(`${base}/`);
  await page.click("#theme");
  assert.equal(await page.locator("html").getAttribute("data-theme"), "dark");
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(13, 17, 23)");
  await page.click("#theme");
  await page.click("#theme");
  assert.equal(await page.locator("html").getAttribute("data-theme"), null, "back to the system's");
});

await check("dark mode follows the system", async () => {
  const dark = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "dark" });
  const p = await signIn(dark, "operator", "operator-secret");
  await p.goto(`${base}/queues/orders`);
  const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(13, 17, 23)");
  await p.locator("#history").scrollIntoViewIfNeeded();
  await shot(p, "queue-dark");
  await dark.close();
});

await check("a read-only key sees no action, and its posts are refused", async () => {
  const context = await browser.newContext();
  const p = await signIn(context, "viewer", "viewer-secret");
  await p.goto(`${base}/queues/orders-dlq`);
  assert.match(await p.locator("header").innerText(), /read-only/);
  for (const action of ["#send", "#purge", "#start-redrive", "input[name=id]", "button[data-delete]"]) {
    assert.equal(await p.locator(action).count(), 0, `${action} is not shown`);
  }
  // With a valid token (the sign-out form's), the purge is still refused.
  const csrf = await p.locator("input[name=csrf]").first().inputValue();
  const answer = await p.request.post(`${base}/queues/orders-dlq/purge`, {
    form: { csrf, confirm: "orders-dlq" },
    maxRedirects: 0,
  });
  assert.equal(answer.status(), 403);
  assert.match(await answer.text(), /may not PurgeQueue/);
  await p.goto(`${base}/queues/orders-dlq`);
  assert.match(await p.locator("#counts").innerText(), /^3 visible/);
  await context.close();
});

await check("a form posted without its token is refused", async () => {
  const answer = await page.request.post(`${base}/queues/orders/purge`, {
    form: { confirm: "orders" },
    maxRedirects: 0,
  });
  assert.equal(answer.status(), 403);
});

await browser.close();
if (failures.length) {
  console.log(`${failures.length} failed: ${failures.join("; ")}`);
  process.exit(1);
}
console.log("every browser check passed");
