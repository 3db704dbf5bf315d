import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type Backend, memoryBackend, openLevelBackend } from '../../src/storage';

const h = (s: string): Buffer => Buffer.from(s, 'hex');

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'keel-storage-'));
}

async function collect(it: AsyncIterable<[Buffer, Buffer]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of it) out.push(`${k.toString('hex')}=${v.toString('hex')}`);
  return out;
}

async function contract(name: string, open: () => Promise<{ backend: Backend; cleanup: () => Promise<void> }>): Promise<void> {
  await test(`${name}: orders keys bytewise, 0x00 and 0xff included`, async () => {
    const { backend, cleanup } = await open();
    await backend.write(
      ['ff', '00', '0000', '61', 'ff00', '6100'].map((k) => ({ type: 'put' as const, key: h(k), value: h('01') })),
      { sync: true },
    );
    assert.deepEqual(await collect(backend.iterate({})), ['00=01', '0000=01', '61=01', '6100=01', 'ff=01', 'ff00=01']);
    assert.deepEqual(await collect(backend.iterate({ gte: h('0000'), lt: h('ff') })), ['0000=01', '61=01', '6100=01']);
    assert.deepEqual(await collect(backend.iterate({ gte: h('0000'), lt: h('ff'), reverse: true })), ['6100=01', '61=01', '0000=01']);
    assert.deepEqual(await collect(backend.iterate({ reverse: true, limit: 2 })), ['ff00=01', 'ff=01']);
    assert.deepEqual(await collect(backend.iterate({ gte: h('61'), limit: 1 })), ['61=01']);
    await cleanup();
  });

  await test(`${name}: get, getMany, atomic batches with deletes`, async () => {
    const { backend, cleanup } = await open();
    await backend.write([{ type: 'put', key: h('01'), value: h('aa') }, { type: 'put', key: h('02'), value: h('') }], { sync: false });
    assert.deepEqual(await backend.get(h('01')), h('aa'));
    assert.deepEqual(await backend.get(h('02')), h(''), 'an empty value is stored, not missing');
    assert.equal(await backend.get(h('03')), undefined);
    await backend.write([{ type: 'del', key: h('01') }, { type: 'put', key: h('03'), value: h('cc') }], { sync: true });
    assert.deepEqual(await backend.getMany([h('01'), h('02'), h('03')]), [undefined, h(''), h('cc')]);
    assert.deepEqual(await backend.getMany([]), []);
    assert.ok((await backend.sizeBytes()) > 0);
    await cleanup();
  });

  await test(`${name}: an iterator does not see writes made after it was created`, async () => {
    const { backend, cleanup } = await open();
    await backend.write([{ type: 'put', key: h('01'), value: h('01') }], { sync: false });
    const it = backend.iterate({});
    await backend.write([{ type: 'put', key: h('02'), value: h('02') }, { type: 'del', key: h('01') }], { sync: false });
    assert.deepEqual(await collect(it), ['01=01']);
    await cleanup();
  });
}

test('backend contract', async () => {
  await contract('memory', async () => {
    const backend = memoryBackend();
    return { backend, cleanup: () => backend.close() };
  });
  await contract('leveldb', async () => {
    const dir = tempDir();
    const backend = await openLevelBackend(dir);
    return {
      backend,
      cleanup: async () => {
        await backend.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

test('leveldb: data survives close and reopen', async () => {
  const dir = tempDir();
  try {
    const a = await openLevelBackend(dir);
    await a.write([{ type: 'put', key: h('00ff'), value: h('0102') }], { sync: true });
    await a.close();
    const b = await openLevelBackend(dir);
    assert.deepEqual(await b.get(h('00ff')), h('0102'));
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('leveldb: a locked data dir is refused with a message naming the dir and the lock', async () => {
  const dir = tempDir();
  const a = await openLevelBackend(dir);
  try {
    await assert.rejects(openLevelBackend(dir), (e: Error) => {
      assert.ok(e.message.includes(dir), e.message);
      assert.match(e.message, /lock/i);
      return true;
    });
  } finally {
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('leveldb: a corrupt data dir is refused with a message naming the dir and the corruption', async () => {
  const dir = tempDir();
  try {
    const a = await openLevelBackend(dir);
    await a.write([{ type: 'put', key: h('01'), value: h('01') }], { sync: true });
    await a.close();
    for (const f of readdirSync(dir)) if (f.startsWith('MANIFEST-')) writeFileSync(path.join(dir, f), 'this is not a manifest');
    await assert.rejects(openLevelBackend(dir), (e: Error) => {
      assert.ok(e.message.includes(dir), e.message);
      assert.match(e.message, /corrupt/i);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('leveldb: an unusable data dir path is refused with a message naming it and the cause', async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const target = path.join(file, 'db');
    await assert.rejects(openLevelBackend(target), (e: Error) => {
      assert.ok(e.message.includes(target), e.message);
      assert.match(e.message, /ENOTDIR|not a directory/i);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
