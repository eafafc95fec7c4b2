// Profiles one server configuration under load: `node bench/http/profile.mjs <mode> [seconds] [dir]`
// starts bench/http/server.mjs <mode> with --cpu-prof (a private redis-server for Redis modes), sends
// first requests (fresh keys) with autocannon, and leaves a .cpuprofile in dir (default
// /tmp/oncely-prof/<mode>) — open it in Chrome DevTools, or summarise it with `--top`.
import autocannon from 'autocannon';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { privateRedis, startNode } from '../lib.mjs';

const [mode = 'memory', seconds = '4', dir = `/tmp/oncely-prof/${mode}`] = process.argv.slice(2);
const redis = mode.startsWith('redis') ? await privateRedis() : null;
const server = await startNode(fileURLToPath(new URL('./server.mjs', import.meta.url)), [mode], {
  ...(redis ? { REDIS_PORT: String(redis.port) } : {}),
}, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
let n = 0;
const run = Date.now().toString(36);
const body = JSON.stringify({ amount: 1999, currency: 'eur', customer: 'cus_123' });
const result = await autocannon({
  url: `http://127.0.0.1:${server.port}`,
  connections: 32,
  duration: Number(seconds),
  requests: [{ method: 'POST', path: '/v1/charges', headers: { 'content-type': 'application/json', 'x-account-id': 'acct_1' }, body, setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'idempotency-key': `${run}-${n++}` } }) }],
});
console.log(`${mode}: ${Math.round(result.requests.average)} req/s`);
await server.stop();
await redis?.stop();

// Self time by function and by file, top entries.
const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
const profile = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const hits = new Map();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const byFunction = new Map();
const byFile = new Map();
for (const [id, count] of hits) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  const where = url.includes('node_modules') ? url.split('node_modules/').pop().split('/').slice(0, 2).join('/') : url.split('/').slice(-3).join('/');
  byFunction.set(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`, (byFunction.get(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`) ?? 0) + count);
  byFile.set(where, (byFile.get(where) ?? 0) + count);
}
const total = profile.samples.length;
const top = (map, k) => [...map].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, c]) => `  ${((c / total) * 100).toFixed(1).padStart(5)}%  ${name}`).join('\n');
console.log(`${dir}/${file}\nself time by file:\n${top(byFile, 12)}\nself time by function:\n${top(byFunction, 25)}`);
