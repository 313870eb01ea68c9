#!/usr/bin/env node
// bench/reference: the Natter chat protocol on the official Node socket.io
// 4.8 server, in memory, permessage-deflate off. It is the very server the
// interop tests use (tests/interop/reference-server.js), so the benchmark
// compares natter-server with a reference that is proven by the same
// scenario. Dependencies: "npm ci" in tests/interop.
//
//   node bench/reference/server.js --port N [--host ADDR]
'use strict';

const path = require('node:path');
const ref = require(path.join(__dirname, '..', '..', 'tests', 'interop', 'reference-server.js'));

ref.main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`reference: ${e.message}\n`);
  process.exit(1);
});
