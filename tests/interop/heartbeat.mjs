#!/usr/bin/env node
// heartbeat.mjs: Engine.IO v4 heartbeat as DESIGN.md "Wire: Socket.IO" has
// it, checked with the official socket.io-client 4.8 and a raw WebSocket:
// the open packet's exact shape, the server pinging every pingInterval, the
// official client kept alive through several pings, and a client that never
// answers "3" closed after pingInterval + pingTimeout. The server runs with
// --ping-interval 300 --ping-timeout 200. Prints TAP; exit 0/1, 77 to skip.
//
//   node heartbeat.mjs --natter-server PATH | --reference

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, withTimeout } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
let ioClient, WebSocket;
try {
  ({ io: ioClient } = await import('socket.io-client'));
  WebSocket = require('ws'); // installed with socket.io/engine.io, pinned by package-lock.json
} catch (e) {
  console.log(`1..0 # SKIP socket.io-client/ws not installed (run "npm ci" in ${HERE}): ${e.code || e.message}`);
  process.exit(77);
}

const args = process.argv.slice(2);
let mode = null;
let target = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--natter-server') { mode = 'natter'; target = args[++i]; }
  else if (args[i] === '--reference') { mode = 'reference'; }
  else { console.error(`unknown argument ${args[i]}`); process.exit(2); }
}
if (!mode) {
  console.error('usage: heartbeat.mjs --natter-server PATH | --reference');
  process.exit(2);
}

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const server = await startServer(mode, target,
  ['--ping-interval', String(PING_INTERVAL), '--ping-timeout', String(PING_TIMEOUT)]);
const BASE = server.base;

async function token() {
  const user = `hb_${Math.random().toString(36).slice(2, 10)}`;
  const r = await fetch(`${BASE}/api/v1/register`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, password: 'heartbeat' }),
  });
  assert.equal(r.status, 201);
  return (await r.json()).token;
}

// A raw Engine.IO connection: frames recorded with their arrival time.
function rawConnect() {
  const ws = new WebSocket(`${BASE.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  const listeners = new Set();
  const fire = () => { for (const l of [...listeners]) l(); };
  ws.on('message', (data, isBinary) => { frames.push({ t: Date.now(), text: isBinary ? null : data.toString() }); fire(); });
  ws.on('close', (code) => { frames.push({ t: Date.now(), close: code }); fire(); });
  const waitFor = (pred, ms, what) => withTimeout(new Promise((resolve) => {
    const check = () => {
      const f = frames.find(pred);
      if (f) { listeners.delete(check); resolve(f); }
    };
    listeners.add(check);
    check();
  }), ms, what);
  return { ws, frames, waitFor };
}

const steps = [];
const step = (name, fn) => steps.push({ name, fn });

step('open packet: exact fields and the configured timings', async () => {
  const c = rawConnect();
  const f = await c.waitFor((x) => x.text?.startsWith('0'), 5000, 'open packet');
  const open = JSON.parse(f.text.slice(1));
  assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof open.sid, 'string');
  assert.ok(open.sid.length > 0);
  assert.deepEqual(open.upgrades, []);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, 1000000);
  c.ws.close();
});

step('the server pings every pingInterval; the official client stays connected', async () => {
  const s = ioClient(BASE, { transports: ['websocket'], auth: { token: await token() }, reconnection: false, forceNew: true });
  try {
    await withTimeout(new Promise((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    }), 5000, 'connect');
    let disconnected = null;
    s.on('disconnect', (reason) => { disconnected = reason; });
    const pings = [];
    await withTimeout(new Promise((resolve) => {
      s.io.on('ping', () => {
        pings.push(Date.now());
        if (pings.length >= 4)
          resolve();
      });
    }), 10 * PING_INTERVAL + 2000, 'four pings');
    assert.equal(disconnected, null, `disconnected: ${disconnected}`);
    assert.equal(s.connected, true);
    for (let i = 1; i < pings.length; i++) {
      const gap = pings[i] - pings[i - 1];
      assert.ok(gap >= PING_INTERVAL * 0.6 && gap <= PING_INTERVAL * 3, `ping gap ${gap} ms`);
    }
    const ack = await s.timeout(5000).emitWithAck('rooms', {});
    assert.equal(ack.ok, true, 'still answering after the pings');
  } finally {
    s.disconnect();
  }
});

step('a client that never answers pings is closed after pingInterval + pingTimeout', async () => {
  const t = await token();
  const c = rawConnect();
  await c.waitFor((x) => x.text?.startsWith('0'), 5000, 'open');
  c.ws.send(`40${JSON.stringify({ token: t })}`);
  await c.waitFor((x) => x.text?.startsWith('40'), 5000, 'CONNECT');
  const ping = await c.waitFor((x) => x.text === '2', PING_INTERVAL * 3 + 2000, 'first ping');
  // No "3". The server must give up within pingTimeout of the ping (slack
  // for a loaded machine), and not before pingTimeout.
  const closed = await c.waitFor((x) => x.close !== undefined, PING_INTERVAL + PING_TIMEOUT + 3000, 'close');
  const after = closed.t - ping.t;
  assert.ok(after >= PING_TIMEOUT * 0.8, `closed ${after} ms after the ping: before pingTimeout`);
  assert.ok(after <= PING_INTERVAL + PING_TIMEOUT + 1500, `closed ${after} ms after the ping`);
});

step('a client that answers pings by hand is kept', async () => {
  const t = await token();
  const c = rawConnect();
  await c.waitFor((x) => x.text?.startsWith('0'), 5000, 'open');
  c.ws.on('message', (d) => { if (d.toString() === '2') c.ws.send('3'); });
  c.ws.send(`40${JSON.stringify({ token: t })}`);
  await c.waitFor((x) => x.text?.startsWith('40'), 5000, 'CONNECT');
  const start = Date.now();
  await c.waitFor(() => c.frames.filter((x) => x.text === '2' && x.t > start).length >= 3,
                  PING_INTERVAL * 10 + 2000, 'three pings');
  assert.ok(!c.frames.some((x) => x.close !== undefined), 'not closed');
  c.ws.close();
});

console.log(`# server: ${mode === 'natter' ? target : mode} at ${BASE}`);
console.log(`1..${steps.length}`);
let failed = 0;
for (let i = 0; i < steps.length; i++) {
  try {
    await withTimeout(steps[i].fn(), 20000, steps[i].name);
    console.log(`ok ${i + 1} - ${steps[i].name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${i + 1} - ${steps[i].name}`);
    console.log('  # ' + String(e && e.stack ? e.stack : e).split('\n').slice(0, 10).join('\n  # '));
  }
}
await server.stop();
console.log(`# ${steps.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
