// Three Chromium instances (one fake microphone WAV each) join one room
// through the demo page. Prints one JSON object with what each page saw;
// browser_test.go makes the assertions. Input: the E2E env variable (JSON).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cfg = JSON.parse(process.env.E2E);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(new Date().toISOString().slice(11, 23), ...a);

async function launch(name, wav) {
  const dir = mkdtempSync(join(tmpdir(), 'mcu-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: cfg.chromium,
    headless: true,
    viewport: { width: 1280, height: 760 },
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      '--disable-background-networking',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on('console', (m) => { if (m.type() === 'error') log(name, 'console:', m.text()); });
  page.on('pageerror', (e) => log(name, 'pageerror:', e.message));
  return { name, ctx, page, dir };
}

// stats reads the receive side of the page's one peer connection.
async function stats(page) {
  return page.evaluate(async () => {
    const pc = window.mcu.pc;
    const out = { audio: [], video: [], state: pc ? pc.connectionState : 'none' };
    if (!pc) return out;
    const r = await pc.getStats();
    r.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'audio') out.audio.push({ energy: s.totalAudioEnergy || 0, duration: s.totalSamplesDuration || 0, packets: s.packetsReceived });
      if (s.kind === 'video') out.video.push({ w: s.frameWidth || 0, h: s.frameHeight || 0, decoded: s.framesDecoded || 0, codec: s.codecId });
    });
    out.liveTracks = pc.getReceivers().filter((x) => x.track && x.track.readyState === 'live' && x.transport).map((x) => x.track.kind);
    return out;
  });
}

const dom = (page) => page.evaluate(() => ({
  ids: [...document.querySelectorAll('#participants li')].map((li) => li.dataset.id),
  speaking: [...document.querySelectorAll('#participants li[data-speaking="true"]')].map((li) => li.dataset.id),
  videoW: document.getElementById('video').videoWidth,
  videoH: document.getElementById('video').videoHeight,
  me: window.mcu.id,
  levels: Object.fromEntries([...window.mcu.people].map(([id, p]) => [id, p.level])),
  meters: [...document.querySelectorAll('#participants .meter i')].map((i) => i.style.width),
}));

// energyRate is the inbound audio energy per second between two samples.
const energyRate = (a, b) => {
  if (!a.audio[0] || !b.audio[0]) return 0;
  const dt = b.audio[0].duration - a.audio[0].duration;
  return dt > 0 ? (b.audio[0].energy - a.audio[0].energy) / dt : 0;
};

const result = { pages: {}, errors: [] };
const browsers = [];
try {
  for (const p of cfg.pages) browsers.push(await launch(p.name, p.wav));
  log('browsers up');
  await Promise.all(browsers.map((b) =>
    b.page.goto(`${cfg.base}/?room=${encodeURIComponent(cfg.room)}&name=${encodeURIComponent(b.name)}&aec=0&autojoin=1`)));
  for (const b of browsers) {
    await b.page.waitForFunction(() => window.mcu.pc && window.mcu.pc.connectionState === 'connected', null, { timeout: 30000 });
    await b.page.waitForFunction(() => document.getElementById('video').videoWidth > 0, null, { timeout: 30000 });
    await b.page.waitForFunction(() => document.querySelectorAll('#participants li').length === 3, null, { timeout: 30000 });
  }
  log('all connected, pictures up, three in every list');

  // Watch the speaking indicators for a while, and the receive statistics.
  const seen = browsers.map(() => ({ on: new Set(), off: new Set(), flips: 0, last: '' }));
  const before = await Promise.all(browsers.map((b) => stats(b.page)));
  const t0 = Date.now();
  while (Date.now() - t0 < cfg.listenMs) {
    await sleep(150);
    const ds = await Promise.all(browsers.map((b) => dom(b.page)));
    ds.forEach((d, i) => {
      const key = d.speaking.slice().sort().join(',');
      if (key !== seen[i].last) seen[i].flips++;
      seen[i].last = key;
      for (const id of d.ids) (d.speaking.includes(id) ? seen[i].on : seen[i].off).add(id);
    });
  }
  const after = await Promise.all(browsers.map((b) => stats(b.page)));
  const doms = await Promise.all(browsers.map((b) => dom(b.page)));

  // Mix-minus: mute the other two; the first keeps talking, so whatever it
  // still hears would be its own voice.
  const [a, b2, c] = browsers;
  await b2.page.click('#muteBtn');
  await c.page.click('#muteBtn');
  await sleep(1500); // the mixer and jitter buffers drain
  const m0 = await Promise.all(browsers.map((b) => stats(b.page)));
  await sleep(cfg.muteMs);
  const m1 = await Promise.all(browsers.map((b) => stats(b.page)));
  const domMuted = await dom(a.page);
  log('levels before mute', JSON.stringify(doms[0].levels), doms[0].meters.join(' '), 'after', JSON.stringify(domMuted.levels));

  for (const [i, b] of browsers.entries()) {
    const shot = join(cfg.artifacts, `page-${b.name.toLowerCase()}.png`);
    await b.page.screenshot({ path: shot });
    result.pages[b.name] = {
      id: doms[i].me,
      before: before[i], after: after[i],
      energyRate: energyRate(before[i], after[i]),
      mutedEnergyRate: energyRate(m0[i], m1[i]),
      framesPerSec: after[i].video[0] && before[i].video[0] ? (after[i].video[0].decoded - before[i].video[0].decoded) / (cfg.listenMs / 1000) : 0,
      dom: doms[i],
      speakingOn: [...seen[i].on], speakingOff: [...seen[i].off], speakingFlips: seen[i].flips,
      screenshot: shot,
    };
  }
  result.mutedList = domMuted;

  // Recording: Alice presses Record; every page shows it from the room's
  // events; Alice stops it after a few seconds.
  await a.page.click('#recBtn');
  await Promise.all(browsers.map((b) => b.page.waitForFunction(
    () => document.getElementById('recBtn').classList.contains('active'), null, { timeout: 10000 })));
  await sleep(cfg.recordMs);
  await a.page.click('#recBtn');
  await Promise.all(browsers.map((b) => b.page.waitForFunction(
    () => !document.getElementById('recBtn').classList.contains('active'), null, { timeout: 10000 })));
  result.recordedOnAllPages = true;

  // Connection lost: the server drops Carol; her page must notice, rejoin
  // on its own with a new peer connection, and be listed again.
  const carolId = doms[2].me;
  await c.page.evaluate(() => { window.oldPC = window.mcu.pc; });
  const kicked = Date.now();
  const del = await fetch(`${cfg.base}/v1/rooms/${encodeURIComponent(cfg.room)}/participants/${encodeURIComponent(carolId)}`, { method: 'DELETE' });
  if (!del.ok) throw new Error(`kick: HTTP ${del.status}`);
  await c.page.waitForFunction(() => window.mcu.pc && window.mcu.pc !== window.oldPC && window.mcu.pc.connectionState === 'connected', null, { timeout: 30000 });
  await a.page.waitForFunction((id) => !!document.querySelector(`#participants li[data-id="${id}"]`), carolId, { timeout: 30000 });
  result.reconnectMs = Date.now() - kicked;
  log('Carol reconnected after', result.reconnectMs, 'ms');
  result.mutedOthers = [b2.name, c.name];
} catch (e) {
  result.errors.push(String(e && e.stack || e));
} finally {
  await Promise.all(browsers.map(async (b) => {
    await b.ctx.close().catch(() => {});
    rmSync(b.dir, { recursive: true, force: true });
  }));
}
console.log(JSON.stringify(result));
