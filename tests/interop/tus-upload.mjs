#!/usr/bin/env node
// tus-upload.mjs: the official tus-js-client (4.x) uploads to natter-server
// (DESIGN.md "HTTP API", tus 1.0 core; issue 5), then the file is fetched
// back and sent in a chat message with the official socket.io-client.
// Prints TAP; exit 0 when every step passed, 1 otherwise, 77 (skip) when
// node_modules is missing or the server has no /api/v1/uploads yet.
//
//   node tus-upload.mjs --natter-server PATH | --url URL

import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, withTimeout } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
let tus, ioClient;
try {
  tus = require('tus-js-client');
  ({ io: ioClient } = await import('socket.io-client'));
} catch (e) {
  console.log(`1..0 # SKIP tus-js-client/socket.io-client not installed (run "npm ci" in ${HERE}): ${e.code || e.message}`);
  process.exit(77);
}

const args = process.argv.slice(2);
let mode = null;
let target = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--natter-server') { mode = 'natter'; target = args[++i]; }
  else if (args[i] === '--url') { mode = 'url'; target = args[++i]; }
  else { console.error(`unknown argument ${args[i]}`); process.exit(2); }
}
if (!mode) {
  console.error('usage: tus-upload.mjs --natter-server PATH | --url URL');
  process.exit(2);
}

const server = await startServer(mode, target);
const BASE = server.base;
const suffix = randomBytes(3).toString('hex');
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function finish(code, msg) {
  if (msg)
    console.log(msg);
  await server.stop();
  process.exit(code);
}

// Does the server speak tus at all? (OPTIONS needs no token in tus 1.0.)
try {
  const r = await fetch(`${BASE}/api/v1/uploads`, { method: 'OPTIONS', headers: { 'Tus-Resumable': '1.0.0' } });
  if (r.status === 404 || r.status === 405 || r.status === 501)
    await finish(77, `1..0 # SKIP the server has no /api/v1/uploads (OPTIONS answered ${r.status})`);
} catch (e) {
  await finish(1, `1..1\nnot ok 1 - OPTIONS /api/v1/uploads\n  # ${e.message}`);
}

async function register(user) {
  const r = await fetch(`${BASE}/api/v1/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, password: 'tus password' }),
  });
  assert.equal(r.status, 201);
  return (await r.json()).token;
}

function connect(token) {
  const s = ioClient(BASE, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  return withTimeout(new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  }), 5000, 'connect');
}

// Uploads `data` with tus-js-client; resolves with {url, headers of the
// completing PATCH}. `options` go to tus.Upload as they are.
function upload(data, token, metadata, options = {}) {
  let lastHeaders = {};
  return withTimeout(new Promise((resolve, reject) => {
    const up = new tus.Upload(data, {
      endpoint: `${BASE}/api/v1/uploads`,
      headers: { Authorization: `Bearer ${token}` },
      metadata,
      chunkSize: 64 * 1024,
      retryDelays: null,
      storeFingerprintForResuming: false,
      onAfterResponse(req, res) {
        if (req.getMethod() === 'PATCH' || req.getMethod() === 'POST')
          lastHeaders = {
            status: res.getStatus(),
            fileId: res.getHeader('Natter-File-Id'),
            sha256: res.getHeader('Natter-File-Sha256'),
            offset: res.getHeader('Upload-Offset'),
          };
      },
      onError: reject,
      onSuccess: () => resolve({ url: up.url, headers: lastHeaders, upload: up }),
      ...options,
    });
    if (options.start !== false)
      up.start();
  }), 30000, 'upload');
}

const steps = [];
const step = (name, fn) => steps.push({ name, fn });
const ctx = {};

step('setup: a user, a room, a socket', async () => {
  ctx.user = `tus_${suffix}`;
  ctx.token = await register(ctx.user);
  ctx.sock = await connect(ctx.token);
  ctx.room = `files-${suffix}`;
  const ack = await ctx.sock.timeout(5000).emitWithAck('join', { room: ctx.room, create: true });
  assert.equal(ack.ok, true);
});

for (const size of [0, 1, 200 * 1024 + 7]) {
  step(`upload ${size} bytes with tus-js-client, download equal (sha256)`, async () => {
    const data = randomBytes(size);
    const meta = { room: ctx.room, name: `f${size}.bin`, filename: `f${size}.bin`, mime: 'application/octet-stream' };
    const { url, headers } = await upload(data, ctx.token, meta);
    const id = new URL(url, BASE).pathname.split('/').pop();
    assert.ok(id, 'the Location has an id');
    // DESIGN.md: the PATCH that completes an upload answers with
    // Natter-File-Id and Natter-File-Sha256 (a 0-byte upload is complete at
    // creation and may have no PATCH).
    if (size > 0 || headers.fileId) {
      assert.equal(headers.fileId, id, 'Natter-File-Id is the upload id');
      assert.equal(String(headers.sha256).toLowerCase(), sha256(data), 'Natter-File-Sha256');
    }
    const r = await fetch(`${BASE}/api/v1/files/${id}`, { headers: { Authorization: `Bearer ${ctx.token}` } });
    assert.equal(r.status, 200);
    const got = Buffer.from(await r.arrayBuffer());
    assert.equal(got.length, size);
    assert.equal(sha256(got), sha256(data));
    ctx.last = { id, size, name: meta.name };
  });
}

step('resume: an upload cut after its first chunk continues from the server offset', async () => {
  const data = randomBytes(512 * 1024);
  const meta = { room: ctx.room, name: 'resume.bin', filename: 'resume.bin', mime: 'application/octet-stream' };
  // First attempt: abort once the first chunk is acknowledged.
  const first = await withTimeout(new Promise((resolve, reject) => {
    const up = new tus.Upload(data, {
      endpoint: `${BASE}/api/v1/uploads`,
      headers: { Authorization: `Bearer ${ctx.token}` },
      metadata: meta,
      chunkSize: 64 * 1024,
      retryDelays: null,
      storeFingerprintForResuming: false,
      onChunkComplete: (chunk, sent) => {
        if (sent >= 64 * 1024) {
          up.abort().then(() => resolve({ url: up.url, sent }));
        }
      },
      onError: reject,
      onSuccess: () => reject(new Error('finished before the abort')),
    });
    up.start();
  }), 15000, 'first half');
  const head = await fetch(first.url, { method: 'HEAD', headers: { Authorization: `Bearer ${ctx.token}`, 'Tus-Resumable': '1.0.0' } });
  assert.equal(head.status, 200);
  const offset = Number(head.headers.get('Upload-Offset'));
  assert.ok(offset >= 64 * 1024 && offset < data.length, `offset ${offset}`);
  // Second attempt: same URL; the first PATCH must start at the offset.
  let firstPatchOffset = null;
  const { url } = await upload(data, ctx.token, meta, {
    uploadUrl: first.url,
    onBeforeRequest(req) {
      if (req.getMethod() === 'PATCH' && firstPatchOffset === null)
        firstPatchOffset = Number(req.getHeader('Upload-Offset'));
    },
  });
  assert.equal(url, first.url);
  assert.equal(firstPatchOffset, offset, 'resumed at the server offset, not at 0');
  const id = new URL(url, BASE).pathname.split('/').pop();
  const r = await fetch(`${BASE}/api/v1/files/${id}`, { headers: { Authorization: `Bearer ${ctx.token}` } });
  assert.equal(sha256(Buffer.from(await r.arrayBuffer())), sha256(data));
});

step('send the uploaded file in a message; it arrives with {id,name,size,mime}', async () => {
  const file = { id: ctx.last.id, name: ctx.last.name, size: ctx.last.size, mime: 'application/octet-stream' };
  const got = new Promise((resolve) => ctx.sock.on('message', (m) => { if (m.file) resolve(m); }));
  const ack = await ctx.sock.timeout(5000).emitWithAck('send', { room: ctx.room, cid: randomUUID(), text: 'a file', file });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  const m = await withTimeout(got, 5000, 'message with file');
  assert.deepEqual(m.file, file);
});

step('a non-member cannot upload to the room nor download its file', async () => {
  const other = await register(`tus2_${suffix}`);
  await assert.rejects(upload(randomBytes(10), other, { room: ctx.room, name: 'x', filename: 'x', mime: 'text/plain' }),
                       (e) => e.originalResponse && [403, 404].includes(e.originalResponse.getStatus()));
  const r = await fetch(`${BASE}/api/v1/files/${ctx.last.id}`, { headers: { Authorization: `Bearer ${other}` } });
  assert.equal(r.status, 403);
});

console.log(`# server: ${mode === 'natter' ? target : target} at ${BASE}`);
console.log(`1..${steps.length}`);
let failed = 0;
for (let i = 0; i < steps.length; i++) {
  try {
    await withTimeout(steps[i].fn(), 60000, steps[i].name);
    console.log(`ok ${i + 1} - ${steps[i].name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${i + 1} - ${steps[i].name}`);
    console.log('  # ' + String(e && e.stack ? e.stack : e).split('\n').slice(0, 12).join('\n  # '));
  }
}
ctx.sock?.disconnect();
await finish(failed ? 1 : 0, `# ${steps.length - failed} passed, ${failed} failed`);
