// Drives a real headless Chromium over diffgate HTML reports.
//
//   node html_report.mjs REPORT.html VERDICT HOSTILE.html SCREENSHOT.png
//
// REPORT.html must have a columns table with rows of different mismatch rates; HOSTILE.html
// is the report of testdata/hostile. Exits non-zero, naming the failed check,
// when anything is wrong. Run by tests/browser.rs.
import { chromium } from "playwright-core";
import path from "node:path";
import assert from "node:assert/strict";

const [report, verdict, hostile, screenshot] = process.argv.slice(2);
const url = (p) => "file://" + path.resolve(p);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

/** A page that records console errors, page errors, dialogs and requests. */
async function open(file, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e}`));
  page.on("dialog", async (d) => { problems.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on("request", (r) => { if (!r.url().startsWith("file:")) problems.push(`network: ${r.url()}`); });
  await page.goto(url(file), { waitUntil: "load" });
  return { page, problems, context };
}

let failed = false;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed = true;
    console.log(`not ok - ${name}\n  ${String(e.message || e).replace(/\n/g, "\n  ")}`);
  }
}

const { page, problems } = await open(report);

await check("the verdict is visible", async () => {
  const badge = page.locator("#verdict");
  assert.ok(await badge.isVisible(), "verdict badge not visible");
  assert.equal((await badge.textContent()).trim(), verdict.toUpperCase());
});

await check("clicking a header sorts the columns table", async () => {
  const rates = async () =>
    page.$$eval("#columns tbody tr", (rows) => rows.map((r) => parseFloat(r.cells[5].getAttribute("data-v"))));
  const before = await rates();
  assert.ok(before.length >= 2, `need two columns, have ${before.length}`);
  const header = page.locator("#columns thead th").nth(5);
  await header.click();
  const asc = await rates();
  assert.deepEqual(asc, [...before].sort((a, b) => a - b), "ascending after one click");
  assert.equal(await header.getAttribute("aria-sort"), "ascending");
  await header.click();
  const desc = await rates();
  assert.deepEqual(desc, [...before].sort((a, b) => b - a), "descending after two clicks");
  const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);
  assert.ok(!same(asc, before) || !same(desc, before), "the rates differ, so some click moved rows");
});

await check("the filter box hides rows that do not match", async () => {
  const filter = page.locator("input.filter").first();
  const table = await filter.evaluate((el) => el.nextElementSibling.id);
  const total = await page.locator(`#${table} tbody tr`).count();
  await filter.fill("no row contains this text");
  assert.equal(await page.locator(`#${table} tbody tr:visible`).count(), 0);
  await filter.fill("");
  assert.equal(await page.locator(`#${table} tbody tr:visible`).count(), total);
});

await check("the embedded report data parses and matches the page", async () => {
  const data = await page.evaluate(() => JSON.parse(document.getElementById("diffgate-report").textContent));
  assert.equal(data.verdict, verdict);
  assert.ok(await page.locator("#raw-json").count());
});

await check("the profile draws each column's histogram as inline SVG", async () => {
  const data = await page.evaluate(() => JSON.parse(document.getElementById("diffgate-report").textContent));
  const tops = (s) => s && s.top && s.top.length;
  const drawn = data.profile.columns.filter((c) => c.histogram || tops(c.v1) || tops(c.v2));
  const charts = page.locator("#profile svg.chart");
  assert.equal(await charts.count(), drawn.length, "one chart per column with a histogram or top values");
  assert.ok(drawn.length >= 2, `need charts, have ${drawn.length}`);
  const box = await charts.first().boundingBox();
  assert.ok(box && box.width >= 200 && box.height >= 40, `chart laid out: ${JSON.stringify(box)}`);
  // Bars of both versions, with a height where the data has values.
  const heights = await charts.first().evaluate((svg) =>
    [...svg.querySelectorAll("rect")].map((r) => [r.getAttribute("class"), r.getBBox().height, r.getBBox().width]));
  assert.ok(heights.some(([c, h, w]) => c === "v1" && h * w > 0), "v1 bars drawn");
  assert.ok(heights.some(([c, h, w]) => c === "v2" && h * w > 0), "v2 bars drawn");
});

await page.screenshot({ path: screenshot, fullPage: true });

await check("no console errors, dialogs or network requests", async () => {
  assert.deepEqual(problems, []);
});

await check("the report reads with JavaScript off", async () => {
  const { page: plain, problems: p2, context } = await open(report, { javaScriptEnabled: false });
  assert.equal((await plain.locator("#verdict").textContent()).trim(), verdict.toUpperCase());
  assert.ok((await plain.locator("#columns tbody tr").count()) >= 2, "tables are rendered without JS");
  assert.deepEqual(p2, []);
  await context.close();
});

await check("hostile values are shown as text and never run", async () => {
  const { page: h, problems: p3 } = await open(hostile);
  assert.equal(await h.evaluate(() => typeof window.pwned), "undefined", "injected script ran");
  assert.equal(await h.locator("main img, main script, main b").count(), 0, "data became markup");
  const cells = await h.$$eval("#changed td.new", (tds) => tds.map((td) => td.textContent));
  assert.ok(
    cells.some((t) => t.includes('</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">')),
    `hostile value not shown as text: ${JSON.stringify(cells).slice(0, 400)}`,
  );
  assert.ok(cells.some((t) => t.includes("\\u{1b}[31mred")), "escape sequence shown as text");
  const data = await h.evaluate(() => JSON.parse(document.getElementById("diffgate-report").textContent));
  const values = JSON.stringify(data.samples);
  assert.ok(values.includes("</script><script>window.pwned=1"), "embedded data keeps the raw value");
  assert.deepEqual(p3, []);
});

await browser.close();
process.exit(failed ? 1 : 0);
