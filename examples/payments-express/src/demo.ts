/**
 * `pnpm demo`: a retry storm against the payments API over real HTTP.
 *
 * Starts the server (a child process) and sends every payment from several concurrent clients at
 * once, as a flaky network and impatient clients would: some clients drop the connection before
 * reading the response and retry; clients told 409 back off (exponentially, with jitter, never
 * beyond `Retry-After`) and retry; and now and then a
 * buggy client reuses a key for a different payment. Then it checks the books: exactly one charge
 * per payment, and every client of a payment holding byte-identical answers.
 *
 *   node dist/demo.js [--store memory|postgres|redis] [--payments 500] [--clients 8] [--in-flight 64]
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'memory' },
    payments: { type: 'string', default: '500' },
    clients: { type: 'string', default: '8' },
    'in-flight': { type: 'string', default: '64' },
    'drop-rate': { type: 'string', default: '0.25' },
  },
});
const PAYMENTS = Number(values.payments);
const CLIENTS = Number(values.clients);
const IN_FLIGHT = Number(values['in-flight']);
const DROP_RATE = Number(values['drop-rate']);
const BUGGY_EVERY = 25;

interface Reply {
  readonly status: number;
  readonly replayed: boolean;
  readonly retryAfter: number;
  readonly body: Buffer;
}

const counts = {
  requests: 0,
  dropped: 0,
  created: 0,
  replayed: 0,
  conflicts: 0,
  mismatches: 0,
  unavailable: 0,
  unexpected: 0,
};

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

function send(url: URL, key: string, account: string, body: string, drop: boolean): Promise<Reply | 'dropped'> {
  counts.requests++;
  const headers = { 'content-type': 'application/json', 'idempotency-key': key, 'x-account-id': account, 'content-length': Buffer.byteLength(body) };
  if (drop) {
    // Hang up somewhere between "request sent" and "response read": the server may not have seen
    // the request, may be running it, or may answer into a closed socket. Whatever comes back is
    // never read.
    return new Promise((resolve) => {
      const req = request(url, { method: 'POST', agent: false, headers });
      req.on('response', (res) => res.destroy());
      req.on('error', () => undefined);
      req.on('close', () => resolve('dropped'));
      req.on('finish', () => setTimeout(() => req.destroy(), Math.random() * 15));
      req.end(body);
    });
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          replayed: res.headers['idempotent-replayed'] === 'true',
          retryAfter: Number(res.headers['retry-after'] ?? 1),
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One client's whole conversation about one payment: retry until a final answer. */
async function client(url: URL, key: string, account: string, body: string, flaky: boolean): Promise<Reply> {
  let conflictsSeen = 0;
  for (let attempt = 0; ; attempt++) {
    const drop = flaky && attempt === 0;
    const reply = await send(url, key, account, body, drop);
    if (reply === 'dropped') {
      counts.dropped++;
      await sleep(5 + Math.random() * 20);
      continue;
    }
    if (reply.status === 409) {
      // Like most HTTP client SDKs: exponential backoff with jitter, never beyond Retry-After.
      counts.conflicts++;
      conflictsSeen++;
      await sleep(Math.min(reply.retryAfter * 1000, 25 * 2 ** conflictsSeen) * (0.5 + Math.random() * 0.5));
      continue;
    }
    if (reply.status === 503) {
      counts.unavailable++;
      await sleep(reply.retryAfter * 1000);
      continue;
    }
    if (reply.status === 201) counts[reply.replayed ? 'replayed' : 'created']++;
    else if (reply.status === 422) counts.mismatches++;
    else counts.unexpected++;
    return reply;
  }
}

async function pay(url: URL, index: number, inconsistencies: string[]): Promise<void> {
  const key = randomUUID();
  const account = `acct_${index % 16}`;
  const body = JSON.stringify({ amount: 1000 + index, currency: 'eur', customer: `cus_${index}` });
  const replies = await Promise.all(
    Array.from({ length: CLIENTS }, () => client(url, key, account, body, Math.random() < DROP_RATE)),
  );
  const first = replies[0];
  if (!first || first.status !== 201 || replies.some((reply) => reply.status !== 201 || !reply.body.equals(first.body))) {
    const distinct = new Set(replies.map((reply) => `${reply.status} ${reply.body.toString('latin1')}`));
    inconsistencies.push(`payment ${index}: ${distinct.size} different answers: ${[...distinct].join(' | ').slice(0, 600)}`);
  }
  if (index % BUGGY_EVERY === 0) {
    // A buggy client reuses the key for a different payment: it must be refused, not charged.
    const reused = await client(url, key, account, JSON.stringify({ amount: 1, currency: 'eur', customer: `cus_${index}` }), false);
    if (reused.status !== 422) inconsistencies.push(`payment ${index}: a reused key with a different body got ${reused.status}`);
  }
}

async function startServer(store: string): Promise<{ url: URL; label: string; stop: () => void }> {
  const server = spawn(process.execPath, [fileURLToPath(new URL('./server.js', import.meta.url)), '--store', store, '--port', '0', '--stats'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: server.stdout });
  const started = await new Promise<string>((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`the payments server exited (${code}) before listening`)));
    lines.on('line', (line) => line.startsWith('listening ') && resolve(line));
  });
  const [, address, ...label] = started.split(' ');
  return { url: new URL(address ?? ''), label: label.join(' ').replace(/^\(|\)$/g, ''), stop: () => server.kill('SIGTERM') };
}

const startedAt = performance.now();
const server = await startServer(values.store ?? 'memory');
const chargesUrl = new URL('/v1/charges', server.url);
const inconsistencies: string[] = [];
try {
  console.log(`oncely demo: ${PAYMENTS} payments × ${CLIENTS} concurrent clients against the payments API — store: ${server.label}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, PAYMENTS) }, async () => {
      while (next < PAYMENTS) await pay(chargesUrl, next++, inconsistencies);
    }),
  );
  const stats = (await (await fetch(new URL('/_demo/stats', server.url))).json()) as {
    charges: number;
    provider: { calls: number; charges: number };
    events: Record<string, number>;
  };
  const seconds = (performance.now() - startedAt) / 1000;
  const rows: [string, number | string][] = [
    ['distinct payments', PAYMENTS],
    ['requests sent', counts.requests],
    ['connections dropped before the response', counts.dropped],
    ['charges executed', stats.charges],
    ['duplicates prevented (replayed, 409 or 422 at the server)', (stats.events['replayed'] ?? 0) + (stats.events['conflict'] ?? 0) + (stats.events['mismatch'] ?? 0)],
    ['replays (Idempotent-Replayed: true)', counts.replayed],
    ['conflicts (409, retried with backoff)', counts.conflicts],
    ['mismatches rejected (422, key reused for another payment)', counts.mismatches],
    ['provider calls / provider charges', `${stats.provider.calls} / ${stats.provider.charges}`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log('');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${typeof value === 'number' ? value.toLocaleString('en-US') : value}`);
  console.log('');
  const exact = stats.charges === PAYMENTS && stats.provider.charges === PAYMENTS && inconsistencies.length === 0 && counts.unexpected === 0;
  console.log(
    exact
      ? `verdict: charges executed (${stats.charges}) == distinct payments (${PAYMENTS}); every client of a payment got byte-identical answers — in ${seconds.toFixed(1)} s`
      : `verdict: FAILED — charges executed ${stats.charges}, distinct payments ${PAYMENTS}, provider charges ${stats.provider.charges}, unexpected answers ${counts.unexpected}`,
  );
  for (const line of inconsistencies.slice(0, 10)) console.log(`  ${line}`);
  process.exitCode = exact ? 0 : 1;
} finally {
  server.stop();
  agent.destroy();
}
