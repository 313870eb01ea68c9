#!/usr/bin/env node
// reference-server.js: the Natter chat protocol of DESIGN.md ("Wire: chat
// events", "HTTP API") on the official Node `socket.io` 4.8 server, in memory.
//
// It is the yardstick twice over: the client library's interop test runs
// against it (so our Engine.IO/Socket.IO side is proven against upstream), and
// bench/reference/ runs it as the "official Socket.IO" side of the benchmarks.
// It must stay a faithful, plain implementation: no persistence, no tricks.
//
//   node reference-server.js [--port N] [--host ADDR]
//                            [--ping-interval MS] [--ping-timeout MS]
//
// Prints "listening on N" (the real port, also for --port 0) when ready.
// Environment: NATTER_PING_INTERVAL, NATTER_PING_TIMEOUT (ms) set the
// heartbeat when the options are not given.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');

const MAX_TEXT_BYTES = 16 * 1024;
const MAX_TOPIC_BYTES = 1024;
const MAX_HISTORY_LIMIT = 200;
const DEFAULT_HISTORY_LIMIT = 50;
const MAX_HTTP_BODY = 64 * 1024;

const USER_RE = /^[a-z0-9_.-]{1,32}$/;
// 1–64 characters, no control characters (C0, DEL, C1).
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const CID_RE = /^[\x20-\x7e]{1,64}$/;

function isWellFormed(s) {
  if (typeof s.isWellFormed === 'function')
    return s.isWellFormed();
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);
}

function roomNameValid(name) {
  if (typeof name !== 'string' || !isWellFormed(name))
    return false;
  const chars = [...name].length;
  if (chars < 1 || chars > 64 || CONTROL_RE.test(name))
    return false;
  if (name.startsWith('@'))
    return dmMembers(name) !== null;
  return true;
}

// "@a+b" with a < b, both valid user names; null otherwise.
function dmMembers(name) {
  const m = /^@([a-z0-9_.-]{1,32})\+([a-z0-9_.-]{1,32})$/.exec(name);
  if (!m || !(m[1] < m[2]))
    return null;
  return [m[1], m[2]];
}

function dmName(a, b) {
  return a < b ? `@${a}+${b}` : `@${b}+${a}`;
}

function ackError(error, message) {
  return { ok: false, error, message };
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

class ChatState {
  constructor() {
    this.users = new Map();   // name -> { salt, hash }
    this.tokens = new Map();  // token -> user
    this.rooms = new Map();   // name -> Room
    this.online = new Map();  // user -> Set<socket>
    this.createRoom('general', '', null);
    this.stats = { delivered: 0, stored: 0, bytesIn: 0, bytesOut: 0 };
  }

  createRoom(name, topic, creator) {
    const room = {
      name,
      topic: topic || '',
      members: new Set(),
      messages: [],        // index i holds seq i + 1
      dedupe: new Map(),   // from + '\n' + cid -> msg
      dm: name.startsWith('@'),
    };
    if (creator)
      room.members.add(creator);
    this.rooms.set(name, room);
    return room;
  }

  roomInfo(room) {
    return {
      name: room.name,
      topic: room.topic,
      last_seq: room.messages.length,
      members: [...room.members].sort(),
    };
  }

  isOnline(user) {
    const set = this.online.get(user);
    return set !== undefined && set.size > 0;
  }
}

function hashPassword(password, salt) {
  return crypto.scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_HTTP_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413, code: 'too_large' }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, obj) {
  const body = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function httpError(res, status, error, message) {
  sendJson(res, status, { error, message });
}

function bearer(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : null;
}

function createReferenceServer(options = {}) {
  const state = new ChatState();
  const pingInterval = options.pingInterval ?? 25000;
  const pingTimeout = options.pingTimeout ?? 20000;

  const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname;
    try {
      if (path === '/api/v1/health' && req.method === 'GET')
        return sendJson(res, 200, { status: 'ok' });
      if (path === '/metrics' && req.method === 'GET')
        return sendMetrics(res);
      if (path === '/api/v1/register' || path === '/api/v1/login') {
        if (req.method !== 'POST')
          return httpError(res, 405, 'bad_request', 'use POST');
        const body = parseBody(await readBody(req));
        if (!body || typeof body.user !== 'string' || typeof body.password !== 'string')
          return httpError(res, 400, 'bad_request', 'expected {"user","password"}');
        if (path === '/api/v1/register')
          return register(res, body.user, body.password);
        return login(res, body.user, body.password);
      }
      if (path === '/api/v1/logout') {
        if (req.method !== 'POST')
          return httpError(res, 405, 'bad_request', 'use POST');
        const token = bearer(req);
        if (!token || !state.tokens.has(token))
          return httpError(res, 401, 'unauthorized', 'no valid token');
        state.tokens.delete(token);
        for (const s of io.of('/').sockets.values())
          if (s.data.token === token)
            s.disconnect(true);
        res.writeHead(204);
        return res.end();
      }
      if (path.startsWith('/api/'))
        return httpError(res, 404, 'not_found', 'no such endpoint');
      httpError(res, 404, 'not_found', 'not found');
    } catch (e) {
      if (!res.headersSent)
        httpError(res, e.status || 500, e.code || 'internal', e.message);
    }
  });

  function parseBody(text) {
    try {
      const v = JSON.parse(text);
      return isObject(v) ? v : null;
    } catch {
      return null;
    }
  }

  function newToken(user) {
    const token = crypto.randomBytes(32).toString('base64url');
    state.tokens.set(token, user);
    return token;
  }

  function register(res, user, password) {
    if (!USER_RE.test(user))
      return httpError(res, 400, 'bad_request', 'user names are 1-32 of [a-z0-9_.-]');
    if (password.length < 1 || password.length > 1024)
      return httpError(res, 400, 'bad_request', 'bad password length');
    if (state.users.has(user))
      return httpError(res, 409, 'conflict', 'user name taken');
    const salt = crypto.randomBytes(16);
    state.users.set(user, { salt, hash: hashPassword(password, salt) });
    // As natter-server does: a new user is a member of the default room.
    state.rooms.get('general').members.add(user);
    sendJson(res, 201, { user, token: newToken(user) });
  }

  function login(res, user, password) {
    const rec = state.users.get(user);
    if (!rec || !crypto.timingSafeEqual(rec.hash, hashPassword(password, rec.salt)))
      return httpError(res, 401, 'unauthorized', 'wrong user or password');
    sendJson(res, 200, { user, token: newToken(user) });
  }

  function sendMetrics(res) {
    let online = 0;
    for (const set of state.online.values())
      if (set.size > 0)
        online++;
    let stored = 0;
    for (const room of state.rooms.values())
      stored += room.messages.length;
    const body =
      `natter_connections ${io.of('/').sockets.size}\n` +
      `natter_rooms ${state.rooms.size}\n` +
      `natter_users_online ${online}\n` +
      `natter_messages_stored ${stored}\n` +
      `natter_messages_delivered ${state.stats.delivered}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(body);
  }

  const io = new Server(httpServer, {
    path: '/socket.io/',
    transports: ['websocket'],
    pingInterval,
    pingTimeout,
    connectTimeout: 45000,
    maxHttpBufferSize: 1e6,
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    cors: { origin: true },
  });

  io.use((socket, next) => {
    const auth = socket.handshake.auth;
    const token = isObject(auth) ? auth.token : undefined;
    const user = typeof token === 'string' ? state.tokens.get(token) : undefined;
    if (!user)
      return next(new Error('unauthorized'));
    socket.data.user = user;
    socket.data.token = token;
    next();
  });

  const roomKey = (name) => 'r:' + name;
  const userKey = (user) => 'u:' + user;

  // Every socket of every member sits in the room's socket.io room, so one
  // emit reaches each connection of each member exactly once.
  function addUserToRoom(user, room) {
    room.members.add(user);
    io.in(userKey(user)).socketsJoin(roomKey(room.name));
  }

  function removeUserFromRoom(user, room) {
    room.members.delete(user);
    io.in(userKey(user)).socketsLeave(roomKey(room.name));
  }

  function emitToRoom(room, event, payload, exceptUser) {
    let op = io.to(roomKey(room.name));
    if (exceptUser)
      op = op.except(userKey(exceptUser));
    op.emit(event, payload);
  }

  // Presence goes to every connection that shares a room with the user,
  // not to the user's own connections.
  function emitPresence(user, online) {
    const keys = [];
    for (const room of state.rooms.values())
      if (room.members.has(user))
        keys.push(roomKey(room.name));
    if (keys.length === 0)
      return;
    io.to(keys).except(userKey(user)).emit('presence', { user, online });
  }

  function memberRoom(user, name) {
    if (typeof name !== 'string' || !roomNameValid(name))
      return { error: ackError('bad_request', 'invalid room name') };
    const room = state.rooms.get(name);
    if (!room)
      return { error: ackError('no_such_room', `no room ${name}`) };
    if (!room.members.has(user))
      return { error: ackError('not_member', `not a member of ${name}`) };
    return { room };
  }

  const handlers = {
    rooms(user) {
      const rooms = [];
      for (const room of state.rooms.values()) {
        const joined = room.members.has(user);
        if (room.dm && !joined)
          continue;
        rooms.push({
          name: room.name,
          topic: room.topic,
          members: room.members.size,
          last_seq: room.messages.length,
          joined,
        });
      }
      return { ok: true, rooms };
    },

    join(user, p) {
      const name = p.room;
      if (typeof name !== 'string' || !roomNameValid(name))
        return ackError('bad_request', 'invalid room name');
      if (p.create !== undefined && typeof p.create !== 'boolean')
        return ackError('bad_request', 'create must be a boolean');
      if (p.topic !== undefined &&
          (typeof p.topic !== 'string' || Buffer.byteLength(p.topic) > MAX_TOPIC_BYTES))
        return ackError('bad_request', 'invalid topic');
      let room = state.rooms.get(name);
      if (name.startsWith('@')) {
        // A DM admits exactly its two people; they may repeat the join.
        if (!room || !room.members.has(user))
          return ackError('forbidden', 'a direct message room admits only its two people');
        return { ok: true, room: state.roomInfo(room) };
      }
      if (!room) {
        if (!p.create)
          return ackError('no_such_room', `no room ${name}`);
        room = state.createRoom(name, p.topic, null);
      }
      if (!room.members.has(user)) {
        addUserToRoom(user, room);
        emitToRoom(room, 'member', { room: name, user, action: 'join' });
      }
      return { ok: true, room: state.roomInfo(room) };
    },

    leave(user, p) {
      const { room, error } = memberRoom(user, p.room);
      if (error)
        return error;
      emitToRoom(room, 'member', { room: room.name, user, action: 'leave' });
      removeUserFromRoom(user, room);
      return { ok: true };
    },

    dm(user, p) {
      const other = p.user;
      if (typeof other !== 'string' || !USER_RE.test(other) || other === user)
        return ackError('bad_request', 'invalid user');
      if (!state.users.has(other))
        return ackError('no_such_room', `no user ${other}`);
      const name = dmName(user, other);
      let room = state.rooms.get(name);
      if (!room) {
        room = state.createRoom(name, '', null);
        addUserToRoom(user, room);
        addUserToRoom(other, room);
        emitToRoom(room, 'member', { room: name, user, action: 'join' });
        emitToRoom(room, 'member', { room: name, user: other, action: 'join' });
      } else if (!room.members.has(user)) {
        addUserToRoom(user, room);
        emitToRoom(room, 'member', { room: name, user, action: 'join' });
      }
      return { ok: true, room: state.roomInfo(room) };
    },

    send(user, p) {
      if (typeof p.cid !== 'string' || !CID_RE.test(p.cid))
        return ackError('bad_request', 'cid must be 1-64 printable ASCII characters');
      if (typeof p.text !== 'string')
        return ackError('bad_request', 'text must be a string');
      if (!isWellFormed(p.text) || p.text.includes('\u0000'))
        return ackError('bad_request', 'text must be valid UTF-8 without NUL');
      if (Buffer.byteLength(p.text) > MAX_TEXT_BYTES)
        return ackError('too_large', 'text is over 16 KiB');
      let file;
      if (p.file !== undefined) {
        const f = p.file;
        if (!isObject(f) || typeof f.id !== 'string' || typeof f.name !== 'string' ||
            typeof f.size !== 'number' || typeof f.mime !== 'string')
          return ackError('bad_request', 'file must be {id,name,size,mime}');
        file = { id: f.id, name: f.name, size: f.size, mime: f.mime };
      }
      const { room, error } = memberRoom(user, p.room);
      if (error)
        return error;
      const key = user + '\n' + p.cid;
      const first = room.dedupe.get(key);
      if (first)
        return { ok: true, seq: first.seq, ts: first.ts, cid: first.cid };
      const msg = {
        room: room.name,
        seq: room.messages.length + 1,
        ts: Date.now(),
        from: user,
        cid: p.cid,
        text: p.text,
      };
      if (file)
        msg.file = file;
      room.messages.push(msg);
      room.dedupe.set(key, msg);
      emitToRoom(room, 'message', msg);
      state.stats.delivered += io.sockets.adapter.rooms.get(roomKey(room.name))?.size ?? 0;
      return { ok: true, seq: msg.seq, ts: msg.ts, cid: msg.cid };
    },

    history(user, p) {
      const { room, error } = memberRoom(user, p.room);
      if (error)
        return error;
      for (const k of ['before', 'after', 'limit'])
        if (p[k] !== undefined && (!Number.isInteger(p[k]) || p[k] < 0))
          return ackError('bad_request', `${k} must be a non-negative integer`);
      const limit = Math.min(p.limit === undefined ? DEFAULT_HISTORY_LIMIT : p.limit,
                             MAX_HISTORY_LIMIT);
      const last = room.messages.length;
      // Window of seqs (lo, hi) exclusive.
      const lo = p.after !== undefined ? p.after : 0;
      const hi = p.before !== undefined ? Math.min(p.before, last + 1) : last + 1;
      let from, to, more;
      if (hi - lo - 1 <= 0 || limit === 0) {
        from = 1; to = 0; more = hi - lo - 1 > 0;
      } else if (p.after !== undefined && p.before === undefined) {
        // Paging forward: the first `limit` after `after`.
        from = lo + 1;
        to = Math.min(hi - 1, lo + limit);
        more = to < hi - 1;
      } else {
        // Latest, or paging back: the last `limit` before `before`.
        to = hi - 1;
        from = Math.max(lo + 1, to - limit + 1);
        more = from > lo + 1;
      }
      const messages = to >= from ? room.messages.slice(from - 1, to) : [];
      return { ok: true, messages, more };
    },

    members(user, p) {
      const { room, error } = memberRoom(user, p.room);
      if (error)
        return error;
      const members = [...room.members].sort()
        .map((u) => ({ user: u, online: state.isOnline(u) }));
      return { ok: true, members };
    },

    typing(user, p) {
      if (typeof p.typing !== 'boolean')
        return ackError('bad_request', 'typing must be a boolean');
      const { room, error } = memberRoom(user, p.room);
      if (error)
        return error;
      emitToRoom(room, 'typing', { room: room.name, user, typing: p.typing }, user);
      return { ok: true };
    },
  };

  io.on('connection', (socket) => {
    const user = socket.data.user;
    socket.join(userKey(user));
    for (const room of state.rooms.values())
      if (room.members.has(user))
        socket.join(roomKey(room.name));
    let set = state.online.get(user);
    if (!set) {
      set = new Set();
      state.online.set(user, set);
    }
    set.add(socket);
    if (set.size === 1)
      emitPresence(user, true);

    socket.onAny((event, payload, ...rest) => {
      const ack = typeof rest[rest.length - 1] === 'function' ? rest[rest.length - 1]
                : typeof payload === 'function' ? payload : null;
      const handler = Object.prototype.hasOwnProperty.call(handlers, event) ? handlers[event] : null;
      let reply;
      if (!handler)
        reply = ackError('bad_request', `unknown event ${String(event).slice(0, 64)}`);
      else if (!isObject(payload))
        reply = ackError('bad_request', 'the payload must be an object');
      else {
        try {
          reply = handler(user, payload);
        } catch (e) {
          reply = ackError('internal', e.message);
        }
      }
      if (ack)
        ack(reply);
    });

    socket.on('disconnect', () => {
      const s = state.online.get(user);
      if (!s)
        return;
      s.delete(socket);
      if (s.size === 0) {
        state.online.delete(user);
        emitPresence(user, false);
      }
    });
  });

  return {
    io,
    httpServer,
    state,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          resolve(httpServer.address().port);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        io.close(() => resolve());
      });
    },
  };
}

function parseArgs(argv) {
  const opts = {
    port: 7300,
    host: '127.0.0.1',
    pingInterval: process.env.NATTER_PING_INTERVAL ? Number(process.env.NATTER_PING_INTERVAL) : 25000,
    pingTimeout: process.env.NATTER_PING_TIMEOUT ? Number(process.env.NATTER_PING_TIMEOUT) : 20000,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const eq = a.indexOf('=');
      if (eq >= 0)
        return a.slice(eq + 1);
      if (i + 1 >= argv.length)
        usage(`${a} needs a value`);
      return argv[++i];
    };
    const name = a.split('=')[0];
    if (name === '--port') opts.port = Number(value());
    else if (name === '--host' || name === '--address') opts.host = value();
    else if (name === '--ping-interval') opts.pingInterval = Number(value());
    else if (name === '--ping-timeout') opts.pingTimeout = Number(value());
    else if (name === '--help' || name === '-h') {
      process.stdout.write('usage: node reference-server.js [--port N] [--host ADDR] ' +
                           '[--ping-interval MS] [--ping-timeout MS]\n');
      process.exit(0);
    } else usage(`unknown argument ${a}`);
  }
  for (const k of ['port', 'pingInterval', 'pingTimeout'])
    if (!Number.isInteger(opts[k]) || opts[k] < 0)
      usage(`bad value for ${k}`);
  return opts;
}

function usage(msg) {
  process.stderr.write(`reference-server: ${msg}\n`);
  process.exit(2);
}

async function main(argv) {
  const opts = parseArgs(argv);
  const server = createReferenceServer(opts);
  const port = await server.listen(opts.port, opts.host);
  process.stdout.write(`listening on ${port}\n`);
  const stop = () => {
    server.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

module.exports = { createReferenceServer, main, dmName };

if (require.main === module)
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`reference-server: ${e.message}\n`);
    process.exit(1);
  });
