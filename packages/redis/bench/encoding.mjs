// Encode + decode cost of a completed record, for the format @oncely/redis ships and two
// alternatives it was chosen against. Run after `pnpm build`: `node bench/encoding.mjs`.
//
//   json-base64   the whole record as JSON, body and result base64 (what a naive store does)
//   json+raw      the binary header the scripts read, then JSON metadata, then the raw body bytes
//   binary (v1)   the shipped format: header + length-prefixed fields + raw body (src/codec.ts)
//
// Each decode copies the body out of the input, as the store does. Every (format, size) runs in a
// fresh process of its own, 5 times, alternating, so one format's garbage never slows another.
// Numbers: µs per encode+decode, median of the processes' medians; only ratios measured in one
// sitting mean anything on a shared machine.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeRecord, encodeRecord } from '../dist/index.js';

const SIZES = [1024, 100 * 1024];

function record(bodyBytes) {
  const body = new Uint8Array(bodyBytes);
  for (let i = 0; i < bodyBytes; i++) body[i] = (i * 131) & 0xff;
  const now = Date.now();
  return {
    id: 'oncely:3f9a1c0e5b7d4f2a9e8c6b4a2d0f1e3c5b7a9d8e6f4c2b0a1e3d5c7b9a8f6e4d',
    key: 'order-7f3a-2024-11-24T12:00:00Z',
    scope: 'acct_1NQk2bL9xYz',
    state: 'completed',
    token: '9b2e4f6a8c0d1e3f5a7b9c1d3e5f7a9b',
    fingerprint: 'v1:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8',
    expiresAt: now + 86_400_000,
    createdAt: now,
    completedAt: now + 123,
    response: {
      status: 201,
      headers: [
        ['content-type', 'application/json; charset=utf-8'],
        ['location', '/v1/charges/ch_3NQk2bL9xYz'],
        ['etag', 'W/"a1b2c3"'],
        ['cache-control', 'no-store'],
      ],
      body,
    },
  };
}

const jsonBase64 = {
  name: 'json-base64',
  encode(r) {
    const { response, result, id, ...rest } = r;
    const doc = { ...rest };
    if (response) doc.response = { ...response, body: response.body === null ? null : Buffer.from(response.body).toString('base64') };
    if (result) doc.result = Buffer.from(result).toString('base64');
    return Buffer.from(JSON.stringify(doc), 'utf8');
  },
  decode(id, buf) {
    const doc = JSON.parse(buf.toString('utf8'));
    if (doc.response && doc.response.body !== null) doc.response.body = new Uint8Array(Buffer.from(doc.response.body, 'base64'));
    if (doc.result) doc.result = new Uint8Array(Buffer.from(doc.result, 'base64'));
    return { id, ...doc };
  },
};

const jsonRaw = {
  name: 'json+raw',
  encode(r) {
    const { response, result, id, expiresAt, token, ...rest } = r;
    const meta = { ...rest };
    const body = response?.body ?? null;
    if (response) meta.response = { status: response.status, headers: response.headers, body: body === null ? null : body.byteLength };
    if (result) meta.result = result.byteLength;
    const json = JSON.stringify(meta);
    const jsonBytes = Buffer.byteLength(json);
    const tokenBytes = Buffer.byteLength(token);
    const size = 1 + 8 + 2 + tokenBytes + 4 + jsonBytes + (body?.byteLength ?? 0) + (result?.byteLength ?? 0);
    const out = Buffer.allocUnsafe(size);
    out[0] = 1;
    out.writeDoubleBE(expiresAt, 1);
    out.writeUInt16BE(tokenBytes, 9);
    let at = 11 + out.write(token, 11);
    at = out.writeUInt32BE(jsonBytes, at);
    at += out.write(json, at);
    if (body) { out.set(body, at); at += body.byteLength; }
    if (result) out.set(result, at);
    return out;
  },
  decode(id, buf) {
    const expiresAt = buf.readDoubleBE(1);
    const tokenBytes = buf.readUInt16BE(9);
    const token = buf.toString('utf8', 11, 11 + tokenBytes);
    let at = 11 + tokenBytes;
    const jsonBytes = buf.readUInt32BE(at);
    at += 4;
    const meta = JSON.parse(buf.toString('utf8', at, at + jsonBytes));
    at += jsonBytes;
    if (meta.response && meta.response.body !== null) {
      meta.response.body = new Uint8Array(buf.subarray(at, at + meta.response.body));
      at += meta.response.body.byteLength;
    }
    if (meta.result !== undefined) meta.result = new Uint8Array(buf.subarray(at, at + meta.result));
    return { id, expiresAt, token, ...meta };
  },
};

const binary = { name: 'binary (v1)', encode: encodeRecord, decode: decodeRecord };

function check(codec, r) {
  const back = codec.decode(r.id, codec.encode(r));
  const same = back.response.body.byteLength === r.response.body.byteLength && Buffer.compare(Buffer.from(back.response.body), Buffer.from(r.response.body)) === 0;
  if (!same || back.token !== r.token || back.expiresAt !== r.expiresAt) throw new Error(`${codec.name} does not round-trip`);
}

function measure(codec, r) {
  const iterations = r.response.body.byteLength > 10_000 ? 2_000 : 20_000;
  for (let i = 0; i < iterations / 4; i++) codec.decode(r.id, codec.encode(r));
  const rounds = [];
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) codec.decode(r.id, codec.encode(r));
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  rounds.sort((a, b) => a - b);
  return rounds[3];
}

const codecs = [jsonBase64, jsonRaw, binary];
if (process.argv[2] === 'one') {
  const codec = codecs[Number(process.argv[3])];
  const r = record(Number(process.argv[4]));
  check(codec, r);
  process.stdout.write(JSON.stringify({ us: measure(codec, r), bytes: codec.encode(r).length }));
} else {
  const PROCESSES = Number(process.env.PROCESSES ?? 5);
  const self = fileURLToPath(import.meta.url);
  console.log(`node ${process.version}, µs per encode+decode (median of ${PROCESSES} processes × median of 7 rounds)`);
  for (const size of SIZES) {
    const runs = codecs.map(() => []);
    let bytes = [];
    for (let p = 0; p < PROCESSES; p++) {
      const order = p % 2 ? [2, 1, 0] : [0, 1, 2];
      for (const i of order) {
        const out = JSON.parse(execFileSync(process.execPath, [self, 'one', String(i), String(size)], { encoding: 'utf8' }));
        runs[i].push(out.us);
        bytes[i] = out.bytes;
      }
    }
    codecs.forEach((codec, i) => {
      const sorted = [...runs[i]].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      console.log(`${String(size / 1024).padStart(4)} KB  ${codec.name.padEnd(12)} ${median.toFixed(2).padStart(8)} µs   ${bytes[i]} bytes stored   (runs ${sorted.map((x) => x.toFixed(1)).join(', ')})`);
    });
  }
}
