import { utf8, type CompletedRecord, type InProgressRecord } from '@oncely/core';
import { describe, expect, it } from 'vitest';
import { describeBytes, printablePreview, recordJson, recordText, table, visible } from './format';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);

const claim: InProgressRecord = {
  id: 'oncely:abc',
  key: 'order-7',
  scope: 'acct_42',
  token: 't1',
  fingerprint: 'v1:ff',
  state: 'in_progress',
  createdAt: NOW - 600_000,
  leaseUntil: NOW - 570_000,
  expiresAt: NOW + 86_400_000 - 600_000,
};

const done: CompletedRecord = {
  id: 'oncely:def',
  key: 'order-8',
  scope: 'acct_42',
  token: 't2',
  fingerprint: '',
  state: 'completed',
  createdAt: NOW - 5_000,
  completedAt: NOW - 4_000,
  expiresAt: NOW + 3_600_000,
  response: { status: 201, headers: [['content-type', 'application/json'], ['x-a', '1']], body: utf8('{"ok":true}') },
};

describe('recordText', () => {
  it('an in-progress claim: state, key, scope, created, lease, expires', () => {
    expect(recordText(claim, NOW)).toBe(
      [
        'state        in_progress',
        'key          order-7',
        'scope        acct_42',
        'created      2030-01-01T11:50:00.000Z (10m ago)',
        'lease        ran out 9m 30s ago (until 2030-01-01T11:50:30.000Z)',
        'expires      2030-01-02T11:50:00.000Z (in 23h 50m)',
        'id           oncely:abc',
        'token        t1',
        'fingerprint  v1:ff',
        '',
      ].join('\n'),
    );
  });

  it('a completed record: status, headers one per line, body preview', () => {
    const text = recordText(done, NOW);
    expect(text).toContain('status       201\n');
    expect(text).toContain('headers      content-type: application/json\n             x-a: 1\n');
    expect(text).toContain('body         11 bytes: {"ok":true}\n');
    expect(text).toContain('fingerprint  (none)\n');
  });

  it('a body that was not stored, and a function result', () => {
    expect(recordText({ ...done, response: { status: 200, headers: [], body: null } }, NOW)).toContain('body         not stored (the response was over the size limit)');
    const { response: _response, ...withoutResponse } = done;
    expect(recordText({ ...withoutResponse, result: utf8('42') }, NOW)).toContain('result       2 bytes: 42');
  });

  it('control characters in keys are escaped, so a key cannot forge output lines', () => {
    expect(recordText({ ...claim, key: 'a\nstate        completed' }, NOW)).toContain('key          a\\u000astate        completed\n');
  });
});

describe('recordJson', () => {
  it('times as ISO and epoch ms, lease left, nulls where a field does not apply', () => {
    expect(recordJson(claim, NOW)).toEqual({
      id: 'oncely:abc',
      key: 'order-7',
      scope: 'acct_42',
      state: 'in_progress',
      token: 't1',
      fingerprint: 'v1:ff',
      createdAt: '2030-01-01T11:50:00.000Z',
      createdAtMs: NOW - 600_000,
      expiresAt: '2030-01-02T11:50:00.000Z',
      expiresAtMs: NOW + 86_400_000 - 600_000,
      leaseUntil: '2030-01-01T11:50:30.000Z',
      leaseUntilMs: NOW - 570_000,
      leaseLeftMs: -570_000,
      completedAt: null,
      completedAtMs: null,
      response: null,
      result: null,
      resultBytes: null,
    });
  });

  it('bodies as base64, null body kept null', () => {
    expect(recordJson(done, NOW).response).toEqual({ status: 201, headers: [['content-type', 'application/json'], ['x-a', '1']], body: 'eyJvayI6dHJ1ZX0=', bodyBytes: 11 });
    expect(recordJson({ ...done, response: { status: 200, headers: [], body: null } }, NOW).response).toEqual({ status: 200, headers: [], body: null, bodyBytes: null });
  });
});

describe('body previews', () => {
  it('printable UTF-8 is shown (newlines and tabs escaped), long text cut', () => {
    expect(printablePreview(utf8('héllo ✓\nworld\t!'))).toBe('héllo ✓\\nworld\\t!');
    expect(printablePreview(utf8('x'.repeat(500)))).toBe(`${'x'.repeat(120)}…`);
  });

  it.each([
    ['invalid UTF-8', new Uint8Array([0xff, 0xfe])],
    ['NUL', new Uint8Array([0x61, 0x00])],
    ['escape sequence', utf8('\u001b[31mred')],
  ])('%s is not shown', (_name, bytes) => {
    expect(printablePreview(bytes)).toBeUndefined();
    expect(describeBytes(bytes)).toMatch(/^\d+ bytes? \(binary, not shown\)$/);
  });

  it('an empty body is just its size', () => {
    expect(describeBytes(new Uint8Array(0))).toBe('0 bytes');
  });
});

describe('helpers', () => {
  it('visible escapes C0, C1 and line separators only', () => {
    expect(visible('a\tb\u0085c\u2028d é')).toBe('a\\u0009b\\u0085c\\u2028d é');
  });

  it('table pads every column but the last', () => {
    expect(table(['A', 'BB'], [['xxx', 'y'], ['z', 'long value']])).toBe('A    BB\nxxx  y\nz    long value\n');
  });
});
