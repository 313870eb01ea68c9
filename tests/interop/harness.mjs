// harness.mjs: spawning the server under test for the interop scripts.
// startServer('reference') runs reference-server.js on a free port;
// startServer('natter', PATH) runs natter-server on a free port with a fresh
// temporary data dir and waits for /api/v1/health; startServer('url', URL)
// uses a running server. Waits are events or polls with a deadline.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------ helpers

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// extraArgs go to the server's command line (both servers take
// --ping-interval MS and --ping-timeout MS).
export async function startServer(mode, target, extraArgs = []) {
  if (mode === 'url')
    return { base: target.replace(/\/$/, ''), stop: async () => {} };

  let child;
  let dataDir = null;
  let base;
  const output = [];
  if (mode === 'reference') {
    child = spawn(process.execPath, [path.join(HERE, 'reference-server.js'), '--port', '0', ...extraArgs],
                  { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    if (!target || !fs.existsSync(target)) {
      console.log(`1..0 # SKIP natter-server binary not found at ${target}`);
      process.exit(77);
    }
    const port = await freePort();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'natter-interop-'));
    child = spawn(target, ['--address', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, ...extraArgs],
                  { stdio: ['ignore', 'pipe', 'pipe'] });
    base = `http://127.0.0.1:${port}`;
  }
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => output.push(d));
  let exited = null;
  const exitPromise = once(child, 'exit').then(([code, signal]) => { exited = { code, signal }; });

  const ready = new Promise((resolve, reject) => {
    exitPromise.then(() => reject(new Error(
      `server exited early (${JSON.stringify(exited)}): ${output.join('').slice(-2000)}`)));
    let buf = '';
    child.stdout.on('data', (d) => {
      output.push(d);
      buf += d;
      const m = /listening on (\d+)/.exec(buf);
      if (mode === 'reference' && m)
        resolve(`http://127.0.0.1:${m[1]}`);
    });
    if (mode === 'natter') {
      // Poll /api/v1/health until it answers 200.
      const deadline = Date.now() + 20000;
      const poll = async () => {
        while (Date.now() < deadline && exited === null) {
          try {
            const r = await fetch(`${base}/api/v1/health`);
            if (r.status === 200)
              return resolve(base);
          } catch {
            // not listening yet
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        reject(new Error('natter-server did not answer /api/v1/health within 20 s'));
      };
      poll();
    }
  });

  base = await withTimeout(ready, 25000, 'server start');
  return {
    base,
    async stop() {
      const already = exited !== null;
      if (!already) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(t);
      }
      if (dataDir)
        fs.rmSync(dataDir, { recursive: true, force: true });
      return already ? exited : null;
    },
    output,
  };
}

