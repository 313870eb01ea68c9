#!/usr/bin/env node
// natter-server-scenario.mjs: the chat scenario of DESIGN.md driven by the
// official socket.io-client 4.8 (websocket transport), against any server
// that speaks it. Prints TAP; exit 0 when every step passed, 1 otherwise,
// 77 (skip) when node_modules is missing.
//
//   node natter-server-scenario.mjs --natter-server PATH   spawn natter-server
//   node natter-server-scenario.mjs --reference            spawn reference-server.js
//   node natter-server-scenario.mjs --url http://HOST:PORT use a running server
//
// The spawned server gets a free loopback port and (natter-server) a fresh
// temporary data dir; it is killed at the end. Every wait is an event or a
// poll with a deadline; nothing sleeps for a fixed time.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, withTimeout } from './harness.mjs';
import { randomUUID, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const STEP_TIMEOUT = 20000;
const WAIT_TIMEOUT = 5000;

let ioClient;
try {
  ({ io: ioClient } = await import('socket.io-client'));
} catch (e) {
  console.log(`1..0 # SKIP socket.io-client is not installed (run "npm ci" in ${HERE}): ${e.code || e.message}`);
  process.exit(77);
}

// ---------------------------------------------------------------- arguments

const args = process.argv.slice(2);
let mode = null;
let target = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--natter-server') { mode = 'natter'; target = args[++i]; }
  else if (args[i] === '--reference') { mode = 'reference'; }
  else if (args[i] === '--url') { mode = 'url'; target = args[++i]; }
  else { console.error(`unknown argument ${args[i]}`); process.exit(2); }
}
if (!mode) {
  console.error('usage: natter-server-scenario.mjs --natter-server PATH | --reference | --url URL');
  process.exit(2);
}

// ---------------------------------------------------------------- the client

let BASE;
const suffix = randomBytes(3).toString('hex');
const uname = (n) => `${n}_${suffix}`;

async function http(method, p, body, token) {
  const headers = {};
  if (body !== undefined)
    headers['Content-Type'] = 'application/json';
  if (token)
    headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE}${p}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { raw: text }; }
  return { status: r.status, json };
}

async function register(name, password = 'correct horse') {
  const r = await http('POST', '/api/v1/register', { user: name, password });
  assert.equal(r.status, 201, `register ${name}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json.user, name);
  assert.equal(typeof r.json.token, 'string');
  return r.json.token;
}

const openClients = new Set();

class Client {
  constructor(user, token) {
    this.user = user;
    this.token = token;
    this.events = { message: [], member: [], typing: [], presence: [] };
    this.waiters = [];
  }

  connect() {
    const socket = ioClient(BASE, {
      path: '/socket.io/',
      transports: ['websocket'],
      auth: { token: this.token },
      reconnection: false,
      forceNew: true,
      timeout: WAIT_TIMEOUT,
    });
    this.socket = socket;
    openClients.add(this);
    for (const kind of Object.keys(this.events)) {
      socket.on(kind, (payload) => {
        this.events[kind].push(payload);
        this.waiters = this.waiters.filter((w) => !w.check());
      });
    }
    this.disconnected = new Promise((resolve) => socket.on('disconnect', (reason) => resolve(reason)));
    return withTimeout(new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(this));
      socket.once('connect_error', (err) => reject(err));
    }), WAIT_TIMEOUT, `${this.user} connect`);
  }

  // A server may rate-limit `send` (natter-server: 10/s per user, bursts of
  // 20): like a real client, retry a rate_limited answer until a deadline.
  async call(event, payload) {
    const deadline = Date.now() + 3 * WAIT_TIMEOUT;
    let ack;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      ack = await this.socket.timeout(WAIT_TIMEOUT).emitWithAck(event, payload);
      if (!(ack && ack.ok === false && ack.error === 'rate_limited' && Date.now() < deadline))
        break;
      this.rateLimited = (this.rateLimited || 0) + 1;
      await new Promise((r) => setTimeout(r, delay));
    }
    assert.ok(ack !== null && typeof ack === 'object' && !Array.isArray(ack),
              `${event} ack must be one object, got ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.ok, 'boolean', `${event} ack has no boolean ok: ${JSON.stringify(ack)}`);
    if (!ack.ok) {
      assert.equal(typeof ack.error, 'string', `error ack without code: ${JSON.stringify(ack)}`);
      assert.equal(typeof ack.message, 'string', `error ack without message: ${JSON.stringify(ack)}`);
    }
    return ack;
  }

  async ok(event, payload) {
    const ack = await this.call(event, payload);
    assert.equal(ack.ok, true, `${this.user} ${event} ${JSON.stringify(payload)} failed: ${JSON.stringify(ack)}`);
    return ack;
  }

  async refused(event, payload, codes) {
    const ack = await this.call(event, payload);
    assert.equal(ack.ok, false, `${this.user} ${event} ${JSON.stringify(payload)} must be refused`);
    assert.ok(codes.includes(ack.error),
              `${event}: error ${ack.error} is not one of ${codes.join('|')}`);
    return ack;
  }

  // Resolves with the first event of `kind` (at index ≥ from) matching pred.
  waitFor(kind, pred = () => true, from = 0) {
    const find = () => this.events[kind].slice(from).find(pred);
    const found = find();
    if (found !== undefined)
      return Promise.resolve(found);
    return withTimeout(new Promise((resolve) => {
      this.waiters.push({
        check: () => {
          const f = find();
          if (f !== undefined) {
            resolve(f);
            return true;
          }
          return false;
        },
      });
    }), WAIT_TIMEOUT, `${this.user} waiting for ${kind}`);
  }

  // A round trip: every event the server emitted to this connection before
  // it handled this request has arrived once it returns.
  async barrier() {
    await this.ok('rooms', {});
  }

  close() {
    openClients.delete(this);
    this.socket.disconnect();
  }
}

async function connectNew(name) {
  const user = uname(name);
  const token = await register(user);
  return new Client(user, token).connect();
}

function checkMsg(m, room, from, cid, text) {
  assert.equal(m.room, room);
  assert.equal(m.from, from);
  assert.equal(m.cid, cid);
  assert.equal(m.text, text);
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1, `seq ${m.seq}`);
  assert.ok(Number.isInteger(m.ts) && Math.abs(m.ts - Date.now()) < 600000, `ts ${m.ts}`);
}

// ------------------------------------------------------------------ the steps

const steps = [];
const step = (name, fn) => steps.push({ name, fn });
const ctx = {};

step('http: register, duplicate name, login, wrong password, health', async () => {
  const r0 = await http('GET', '/api/v1/health');
  assert.equal(r0.status, 200);
  const alice = uname('alice');
  await register(alice, 'pw-alice');
  const dup = await http('POST', '/api/v1/register', { user: alice, password: 'x' });
  assert.equal(dup.status, 409);
  assert.equal(typeof dup.json?.error, 'string', 'HTTP errors are {"error","message"}');
  const bad = await http('POST', '/api/v1/register', { user: 'Bad Name!', password: 'x' });
  assert.equal(bad.status, 400);
  const ok = await http('POST', '/api/v1/login', { user: alice, password: 'pw-alice' });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.user, alice);
  assert.equal(typeof ok.json.token, 'string');
  const wrong = await http('POST', '/api/v1/login', { user: alice, password: 'nope' });
  assert.equal(wrong.status, 401);
  assert.equal(typeof wrong.json?.error, 'string');
  const nouser = await http('POST', '/api/v1/login', { user: uname('nobody'), password: 'x' });
  assert.equal(nouser.status, 401);
  ctx.alice = new Client(alice, ok.json.token);
});

step('socket: wrong or missing token gets connect_error "unauthorized"', async () => {
  for (const auth of [{ token: 'not-a-token-' + randomBytes(16).toString('hex') }, {}]) {
    const s = ioClient(BASE, { transports: ['websocket'], auth, reconnection: false, forceNew: true });
    try {
      const err = await withTimeout(new Promise((resolve, reject) => {
        s.once('connect', () => reject(new Error('connected without a valid token')));
        s.once('connect_error', resolve);
      }), WAIT_TIMEOUT, 'connect_error');
      assert.equal(err.message, 'unauthorized');
    } finally {
      s.disconnect();
    }
  }
});

step('socket: connect with token; join with create; member event', async () => {
  await ctx.alice.connect();
  ctx.bob = await connectNew('bob');
  ctx.room = `interop-${suffix}`;
  const a = await ctx.alice.ok('join', { room: ctx.room, create: true, topic: 'Interop 测试' });
  assert.equal(a.room.name, ctx.room);
  assert.equal(a.room.topic, 'Interop 测试');
  assert.equal(a.room.last_seq, 0);
  assert.deepEqual(a.room.members, [ctx.alice.user]);
  const b = await ctx.bob.ok('join', { room: ctx.room });
  assert.deepEqual([...b.room.members].sort(), [ctx.alice.user, ctx.bob.user].sort());
  const ev = await ctx.alice.waitFor('member', (e) => e.room === ctx.room && e.user === ctx.bob.user);
  assert.equal(ev.action, 'join');
  // Joining again is harmless.
  await ctx.bob.ok('join', { room: ctx.room });
});

step('rooms: lists general and the joined room', async () => {
  const r = await ctx.bob.ok('rooms', {});
  assert.ok(Array.isArray(r.rooms));
  const mine = r.rooms.find((x) => x.name === ctx.room);
  assert.ok(mine, 'joined room listed');
  assert.equal(mine.joined, true);
  assert.equal(mine.members, 2);
  assert.equal(mine.last_seq, 0);
  assert.equal(mine.topic, 'Interop 测试');
  const general = r.rooms.find((x) => x.name === 'general');
  assert.ok(general, 'the default room general exists');
});

step('send: acks {ok,seq,ts,cid}; both members receive every message in order', async () => {
  ctx.sent = [];
  for (let i = 1; i <= 26; i++) {
    const c = i % 2 ? ctx.alice : ctx.bob;
    const cid = randomUUID();
    const text = `message ${i} — 你好 ${'x'.repeat(i)}`;
    const ack = await c.ok('send', { room: ctx.room, cid, text });
    assert.equal(ack.seq, i, 'seq counts from 1, gap-free');
    assert.equal(ack.cid, cid);
    assert.ok(Number.isInteger(ack.ts));
    ctx.sent.push({ seq: i, ts: ack.ts, cid, text, from: c.user });
  }
  for (const c of [ctx.alice, ctx.bob]) {
    await c.waitFor('message', (m) => m.room === ctx.room && m.seq === 26);
    const got = c.events.message.filter((m) => m.room === ctx.room);
    assert.equal(got.length, 26, `${c.user} got ${got.length} messages`);
    got.forEach((m, i) => {
      checkMsg(m, ctx.room, ctx.sent[i].from, ctx.sent[i].cid, ctx.sent[i].text);
      assert.equal(m.seq, i + 1);
      assert.equal(m.ts, ctx.sent[i].ts);
    });
  }
});

step('send: a repeated cid answers the first seq/ts and broadcasts nothing', async () => {
  const first = ctx.sent[0];
  const ack = await ctx.alice.ok('send', { room: ctx.room, cid: first.cid, text: first.text });
  assert.equal(ack.seq, first.seq);
  assert.equal(ack.ts, first.ts);
  assert.equal(ack.cid, first.cid);
  // Another user may use the same cid: it is unique per sender only.
  const other = await ctx.bob.ok('send', { room: ctx.room, cid: first.cid, text: 'same cid, other sender' });
  assert.equal(other.seq, 27);
  ctx.sent.push({ seq: 27, ts: other.ts, cid: first.cid, text: 'same cid, other sender', from: ctx.bob.user });
  for (const c of [ctx.alice, ctx.bob]) {
    await c.waitFor('message', (m) => m.room === ctx.room && m.seq === 27);
    const seqs = c.events.message.filter((m) => m.room === ctx.room).map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: 27 }, (_, i) => i + 1), `${c.user}: no duplicate broadcast`);
  }
});

step('history: latest, before, after, limit, more', async () => {
  const seqs = (r) => r.messages.map((m) => m.seq);
  const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  let r = await ctx.bob.ok('history', { room: ctx.room, limit: 10 });
  assert.deepEqual(seqs(r), range(18, 27));
  assert.equal(r.more, true);
  r.messages.forEach((m) => {
    const s = ctx.sent[m.seq - 1];
    checkMsg(m, ctx.room, s.from, s.cid, s.text);
    assert.equal(m.ts, s.ts);
  });
  r = await ctx.bob.ok('history', { room: ctx.room, before: 18, limit: 10 });
  assert.deepEqual(seqs(r), range(8, 17));
  assert.equal(r.more, true);
  r = await ctx.bob.ok('history', { room: ctx.room, before: 8, limit: 10 });
  assert.deepEqual(seqs(r), range(1, 7));
  assert.equal(r.more, false);
  r = await ctx.bob.ok('history', { room: ctx.room, after: 20, limit: 5 });
  assert.deepEqual(seqs(r), range(21, 25));
  assert.equal(r.more, true);
  r = await ctx.bob.ok('history', { room: ctx.room, after: 25, limit: 5 });
  assert.deepEqual(seqs(r), [26, 27]);
  assert.equal(r.more, false);
  r = await ctx.bob.ok('history', { room: ctx.room, after: 27 });
  assert.deepEqual(seqs(r), []);
  assert.equal(r.more, false);
  r = await ctx.bob.ok('history', { room: ctx.room });
  assert.deepEqual(seqs(r), range(1, 27), 'default limit covers 27 messages');
  assert.equal(r.more, false);
  // Over the cap: either refused or capped at 200, never more.
  const big = await ctx.bob.call('history', { room: ctx.room, limit: 1000 });
  if (big.ok)
    assert.ok(big.messages.length <= 200);
  else
    assert.equal(big.error, 'bad_request');
});

step('members: both listed online', async () => {
  const r = await ctx.alice.ok('members', { room: ctx.room });
  const byUser = Object.fromEntries(r.members.map((m) => [m.user, m.online]));
  assert.deepEqual(byUser, { [ctx.alice.user]: true, [ctx.bob.user]: true });
});

step('typing: reaches the other member, not the typist', async () => {
  ctx.alice.socket.emit('typing', { room: ctx.room, typing: true });
  const ev = await ctx.bob.waitFor('typing', (e) => e.room === ctx.room && e.user === ctx.alice.user);
  assert.equal(ev.typing, true);
  const withAck = await ctx.alice.call('typing', { room: ctx.room, typing: false });
  assert.equal(withAck.ok, true, 'typing with an ack id gets {"ok":true}');
  const ev2 = await ctx.bob.waitFor('typing', (e) => e.user === ctx.alice.user && e.typing === false);
  assert.equal(ev2.room, ctx.room);
  await ctx.alice.barrier();
  assert.equal(ctx.alice.events.typing.length, 0, 'the typist gets no typing event');
});

step('a user connected twice: both connections receive', async () => {
  const second = await new Client(ctx.bob.user, ctx.bob.token).connect();
  try {
    const cid = randomUUID();
    const ack = await ctx.alice.ok('send', { room: ctx.room, cid, text: 'to both of bob' });
    ctx.sent.push({ seq: ack.seq, ts: ack.ts, cid, text: 'to both of bob', from: ctx.alice.user });
    await second.waitFor('message', (m) => m.cid === cid);
    await ctx.bob.waitFor('message', (m) => m.cid === cid);
  } finally {
    second.close();
  }
  // Bob is still online (one connection left): members must say so.
  await ctx.bob.barrier();
  const r = await ctx.alice.ok('members', { room: ctx.room });
  assert.equal(r.members.find((m) => m.user === ctx.bob.user).online, true);
});

step('dm: private room @a+b (sorted); a third user can neither read nor write it', async () => {
  ctx.carol = await connectNew('carol');
  const expect = '@' + [ctx.alice.user, ctx.bob.user].sort().join('+');
  const r = await ctx.alice.ok('dm', { user: ctx.bob.user });
  assert.equal(r.room.name, expect);
  assert.deepEqual([...r.room.members].sort(), [ctx.alice.user, ctx.bob.user].sort());
  ctx.dm = expect;
  const r2 = await ctx.bob.ok('dm', { user: ctx.alice.user });
  assert.equal(r2.room.name, expect, 'both sides get the same room');
  const cid = randomUUID();
  const ack = await ctx.alice.ok('send', { room: ctx.dm, cid, text: 'secret' });
  assert.equal(ack.seq, 1);
  const got = await ctx.bob.waitFor('message', (m) => m.room === ctx.dm);
  checkMsg(got, ctx.dm, ctx.alice.user, cid, 'secret');
  await ctx.alice.waitFor('message', (m) => m.room === ctx.dm);
  const deny = ['forbidden', 'not_member'];
  await ctx.carol.refused('history', { room: ctx.dm }, deny);
  await ctx.carol.refused('send', { room: ctx.dm, cid: randomUUID(), text: 'let me in' }, deny);
  await ctx.carol.refused('members', { room: ctx.dm }, deny);
  await ctx.carol.refused('join', { room: ctx.dm }, deny);
  await ctx.carol.refused('join', { room: ctx.dm, create: true }, deny);
  const rooms = await ctx.carol.ok('rooms', {});
  assert.ok(!rooms.rooms.some((x) => x.name === ctx.dm), 'a DM is not listed for others');
  await ctx.carol.barrier();
  assert.equal(ctx.carol.events.message.length, 0, 'carol received no message');
  const hist = await ctx.bob.ok('history', { room: ctx.dm });
  assert.deepEqual(hist.messages.map((m) => m.text), ['secret']);
});

step('non-member: history, members and send of a public room are refused', async () => {
  const deny = ['forbidden', 'not_member'];
  await ctx.carol.refused('history', { room: ctx.room }, deny);
  await ctx.carol.refused('members', { room: ctx.room }, deny);
  await ctx.carol.refused('send', { room: ctx.room, cid: randomUUID(), text: 'hi' }, deny);
  const h = await ctx.alice.ok('history', { room: ctx.room, after: 27 });
  assert.ok(h.messages.every((m) => m.from !== ctx.carol.user), 'nothing stored from carol');
});

step('presence: members see a user go offline and come back', async () => {
  await ctx.carol.ok('join', { room: ctx.room });
  await ctx.alice.waitFor('member', (e) => e.user === ctx.carol.user && e.action === 'join');
  const from = ctx.alice.events.presence.length;
  ctx.carol.close();
  const off = await ctx.alice.waitFor('presence', (e) => e.user === ctx.carol.user, from);
  assert.equal(off.online, false);
  const m = await ctx.alice.ok('members', { room: ctx.room });
  assert.equal(m.members.find((x) => x.user === ctx.carol.user).online, false);
  const from2 = ctx.alice.events.presence.length;
  ctx.carol = await new Client(ctx.carol.user, ctx.carol.token).connect();
  const on = await ctx.alice.waitFor('presence', (e) => e.user === ctx.carol.user, from2);
  assert.equal(on.online, true);
  const m2 = await ctx.bob.ok('members', { room: ctx.room });
  assert.equal(m2.members.find((x) => x.user === ctx.carol.user).online, true);
});

step('leave: member event; the leaver gets no more messages and no history', async () => {
  await ctx.bob.ok('leave', { room: ctx.room });
  const ev = await ctx.alice.waitFor('member', (e) => e.user === ctx.bob.user && e.action === 'leave');
  assert.equal(ev.room, ctx.room);
  const before = ctx.bob.events.message.length;
  const cid = randomUUID();
  await ctx.alice.ok('send', { room: ctx.room, cid, text: 'after bob left' });
  await ctx.carol.waitFor('message', (m) => m.cid === cid);
  await ctx.bob.barrier();
  assert.equal(ctx.bob.events.message.length, before, 'bob received nothing after leaving');
  await ctx.bob.refused('history', { room: ctx.room }, ['forbidden', 'not_member']);
  await ctx.bob.refused('leave', { room: ctx.room }, ['not_member', 'forbidden']);
  const rooms = await ctx.bob.ok('rooms', {});
  const listed = rooms.rooms.find((x) => x.name === ctx.room);
  assert.ok(!listed || listed.joined === false, 'no longer joined');
});

step('errors: unknown room, bad names, oversize text, bad payloads', async () => {
  await ctx.alice.refused('join', { room: `nope-${suffix}` }, ['no_such_room']);
  await ctx.alice.refused('join', { room: '' }, ['bad_request']);
  await ctx.alice.refused('join', { room: 'x'.repeat(65), create: true }, ['bad_request']);
  await ctx.alice.refused('join', { room: 'bad\u0001name', create: true }, ['bad_request']);
  await ctx.alice.refused('send', { room: ctx.room, cid: randomUUID(), text: 'x'.repeat(16 * 1024 + 1) },
                          ['too_large']);
  const exact = await ctx.alice.ok('send', { room: ctx.room, cid: randomUUID(), text: 'y'.repeat(16 * 1024) });
  assert.ok(exact.seq > 0, 'exactly 16 KiB is accepted');
  await ctx.alice.refused('send', { room: ctx.room, text: 'no cid' }, ['bad_request']);
  await ctx.alice.refused('send', { room: ctx.room, cid: 'c'.repeat(65), text: 'long cid' }, ['bad_request']);
  await ctx.alice.refused('send', { room: ctx.room, cid: randomUUID() }, ['bad_request']);
  await ctx.alice.refused('send', { room: `nope-${suffix}`, cid: randomUUID(), text: 'x' },
                          ['no_such_room', 'not_member', 'forbidden']);
  await ctx.alice.refused('history', { room: ctx.room, before: 'x' }, ['bad_request']);
  await ctx.alice.refused('dm', { user: uname('ghost') }, ['no_such_room', 'bad_request']);
  await ctx.alice.refused('dm', { user: ctx.alice.user }, ['bad_request']);
  // The connection survives every refusal.
  await ctx.alice.barrier();
  assert.equal(ctx.alice.socket.connected, true);
});

step('NUL inside a JSON string is refused, never truncated', async () => {
  // JSON allows "\u0000"; a C server that reads strings as C strings cuts
  // them there. Names must not change meaning, text must not lose bytes,
  // and two different cids must never collapse into one (exactly once).
  // Refusing is either an error ack or closing that connection (an invalid
  // packet); each socket check uses its own throwaway connection.
  const problems = [];
  const check = async (what, fn) => {
    try { await fn(); } catch (e) { problems.push(`${what}: ${e.message.split('\n')[0]}`); }
  };
  // Sends one event on a fresh connection of alice; returns the ack, or
  // null when the server closed the connection instead of answering.
  const once = async (event, payload) => {
    const c = await new Client(ctx.alice.user, ctx.alice.token).connect();
    try {
      // socket.io-client fails a pending ack with "socket has been
      // disconnected" when the server closes the connection.
      return await Promise.race([
        c.socket.timeout(WAIT_TIMEOUT).emitWithAck(event, payload)
          .catch((e) => { if (/disconnected/.test(e.message)) return null; throw e; }),
        c.disconnected.then(() => null),
      ]);
    } finally {
      c.close();
    }
  };
  await check('register "name\\u0000x"', async () => {
    const r = await http('POST', '/api/v1/register', { user: uname('nul') + '\u0000x', password: 'pw' });
    assert.equal(r.status, 400, `answered ${r.status} ${JSON.stringify(r.json)}`);
  });
  await check('join "general\\u0000evil"', async () => {
    const j = await once('join', { room: 'general\u0000evil' });
    assert.ok(j === null || j.ok === false, `answered ${JSON.stringify(j).slice(0, 120)}`);
  });
  await check('send text "a\\u0000b"', async () => {
    const t = await once('send', { room: ctx.room, cid: randomUUID(), text: 'a\u0000b' });
    if (t && t.ok) {
      const h = await ctx.alice.ok('history', { room: ctx.room, after: t.seq - 1, limit: 1 });
      assert.equal(h.messages[0].text, 'a\u0000b', 'acked ok but the stored text differs');
    } else if (t) {
      assert.equal(t.error, 'bad_request');
    }
  });
  await check('cid "X\\u0000x" then cid "X"', async () => {
    const base = randomUUID();
    const c1 = await once('send', { room: ctx.room, cid: base + '\u0000x', text: 'first' });
    const c2 = await ctx.alice.ok('send', { room: ctx.room, cid: base, text: 'second' });
    if (c1 && c1.ok)
      assert.notEqual(c2.seq, c1.seq, 'two different cids collapsed into one message');
    const h2 = await ctx.alice.ok('history', { room: ctx.room, after: c2.seq - 1, limit: 1 });
    assert.equal(h2.messages[0].text, 'second', '"second" was acked but never stored');
  });
  assert.equal(ctx.alice.socket.connected, true, 'the main connection is unaffected');
  assert.deepEqual(problems, []);
});

step('logout: 204, the token dies and its sockets close', async () => {
  const r = await http('POST', '/api/v1/logout', undefined, ctx.alice.token);
  assert.equal(r.status, 204);
  const reason = await withTimeout(ctx.alice.disconnected, WAIT_TIMEOUT, 'socket closed on logout');
  assert.ok(typeof reason === 'string');
  openClients.delete(ctx.alice);
  const again = new Client(ctx.alice.user, ctx.alice.token);
  await assert.rejects(again.connect(), (err) => err.message === 'unauthorized');
  again.close();
  const r2 = await http('POST', '/api/v1/logout', undefined, ctx.alice.token);
  assert.equal(r2.status, 401);
  // Bob, on another token, is unaffected.
  await ctx.bob.barrier();
});

// ------------------------------------------------------------------ run them

const server = await startServer(mode, target).catch((e) => {
  console.log('1..1');
  console.log(`not ok 1 - server start\n  # ${e.message.replace(/\n/g, '\n  # ')}`);
  process.exit(1);
});
BASE = server.base;
console.log(`# server: ${mode === 'natter' ? target : mode} at ${BASE}`);
console.log(`1..${steps.length}`);
let failed = 0;
for (let i = 0; i < steps.length; i++) {
  const { name, fn } = steps[i];
  try {
    await withTimeout(fn(), STEP_TIMEOUT, name);
    console.log(`ok ${i + 1} - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${i + 1} - ${name}`);
    const text = (e && e.stack) ? e.stack : String(e);
    console.log('  # ' + text.split('\n').slice(0, 12).join('\n  # '));
  }
}
for (const c of openClients)
  c.socket.disconnect();
const exit = await server.stop();
if (exit) {
  console.log(`# the server exited on its own during the run: ${JSON.stringify(exit)}`);
  failed++;
}
if (server.output && failed)
  console.log('# server output (tail):\n# ' + server.output.join('').slice(-3000).split('\n').join('\n# '));
console.log(`# ${steps.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
