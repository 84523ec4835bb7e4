#!/usr/bin/env node
// Reference tokenizer for the exactness test of package tokenizer (tokenizer/exact_test.go).
//
// Reads JSON lines from stdin and writes exactly one JSON line to stdout per input line, in order:
//
//   {"enc": "cl100k_base", "text": "..."}  ->  {"tokens": [...]}
//       get_encoding(enc).encode_ordinary(text): special-token text such as "<|endoftext|>" is
//       encoded as ordinary text.
//   {"enc": "cl100k_base", "op": "vocab"}   ->  {"n_vocab": N, "ranks": [[id, "<base64 bytes>"], ...],
//                                                 "special": [[id, "<text>"], ...]}
//       The whole vocabulary as the reference sees it: every mergeable token (token_byte_values,
//       each mapped to its id with encode_single_token) and every special token (its id as
//       encode(text, "all") gives it). n_vocab is one past the largest id.
//
// A malformed line, or an unknown encoding, yields {"error": "..."} for that line.
//
// The npm package `tiktoken` (pinned to 1.0.22 by scripts/tools.sh: the Rust core compiled to
// WebAssembly) is resolved through NODE_PATH, e.g.
//
//   NODE_PATH=$HOME/.cache/stowken/tools/npm/tiktoken-1.0.22/node_modules node scripts/tiktoken-ref.mjs
//
// ESM `import` ignores NODE_PATH, hence createRequire. Without NODE_PATH the script falls back to
// the tools.sh cache ($STOWKEN_TOOLS, default ~/.cache/stowken/tools). Exits with status 3 when
// the package cannot be found.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { homedir } from 'node:os';
import { join } from 'node:path';

const TIKTOKEN_VERSION = '1.0.22';

// loadTiktoken returns a require function that resolves the package `tiktoken`.
function loadTiktoken() {
  const require = createRequire(import.meta.url);
  try {
    require.resolve('tiktoken');
    return require;
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
  }
  const tools = process.env.STOWKEN_TOOLS || join(homedir(), '.cache', 'stowken', 'tools');
  const dir = join(tools, 'npm', `tiktoken-${TIKTOKEN_VERSION}`, 'node_modules');
  const fallback = createRequire(join(dir, 'noop.js'));
  try {
    fallback.resolve('tiktoken');
    return fallback;
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    process.stderr.write(
      `tiktoken-ref: npm package tiktoken not found via NODE_PATH or in ${dir}; ` +
        'run scripts/tools.sh tiktoken\n',
    );
    process.exit(3);
  }
}

const require = loadTiktoken();
const tiktoken = require('tiktoken');
const encoders = new Map();

function encoder(name) {
  let enc = encoders.get(name);
  if (enc === undefined) {
    enc = tiktoken.get_encoding(name); // throws on an unknown name
    encoders.set(name, enc);
  }
  return enc;
}

function vocab(name) {
  const enc = encoder(name);
  const ranks = [];
  let max = -1;
  for (const bytes of enc.token_byte_values()) {
    const b = Uint8Array.from(bytes);
    const id = enc.encode_single_token(b);
    ranks.push([id, Buffer.from(b).toString('base64')]);
    if (id > max) max = id;
  }
  ranks.sort((a, b) => a[0] - b[0]);
  const special = [];
  const specialTokens = require(`tiktoken/encoders/${name}.json`).special_tokens;
  for (const text of Object.keys(specialTokens)) {
    const ids = enc.encode(text, 'all');
    if (ids.length !== 1) throw new Error(`special token ${text} encodes to ${ids.length} tokens`);
    special.push([ids[0], text]);
    if (ids[0] > max) max = ids[0];
  }
  special.sort((a, b) => a[0] - b[0]);
  return { n_vocab: max + 1, ranks, special };
}

function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
    if (typeof req.enc !== 'string') throw new Error('missing "enc"');
    if (req.op === 'vocab') return JSON.stringify(vocab(req.enc));
    if (req.op !== undefined) throw new Error(`unknown op ${JSON.stringify(req.op)}`);
    if (typeof req.text !== 'string') throw new Error('missing "text"');
    return JSON.stringify({ tokens: Array.from(encoder(req.enc).encode_ordinary(req.text)) });
  } catch (err) {
    return JSON.stringify({ error: String(err && err.message ? err.message : err) });
  }
}

// Output is batched per chunk of input (pipes are written synchronously on Linux, so this only
// saves system calls); every line read so far is answered before the next chunk is awaited.
let out = [];
let outBytes = 0;
function flush() {
  if (out.length > 0) {
    process.stdout.write(out.join(''));
    out = [];
    outBytes = 0;
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
rl.on('line', (line) => {
  const res = handle(line) + '\n';
  out.push(res);
  outBytes += res.length;
  if (outBytes >= 1 << 16) flush();
});
rl.on('close', () => {
  flush();
  for (const enc of encoders.values()) enc.free();
  encoders.clear();
});
// readline emits all lines of a chunk synchronously; flush once the chunk has been handled so a
// caller that waits for an answer before sending more never stalls.
process.stdin.on('data', () => setImmediate(flush));
