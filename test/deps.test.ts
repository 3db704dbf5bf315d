// The dependency check has teeth: on a tree with deliberate violations (a
// wrong-way import from src/cli to src/server, a test importing a private
// module, an import cycle, grpc in domain code) it fails and names each one;
// on this repository it passes (npm test runs it before the tests).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './helpers/procs';

const script = path.join(repoRoot, 'scripts', 'check-deps.js');

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-deps-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function check(root: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [script, root], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('the dependency check refuses wrong-way imports, private imports, cycles and grpc in domain code', () => {
  const root = tree({
    'src/server/index.ts': 'export const member = 1;\n',
    'src/cli/index.ts': "import { member } from '../server';\nexport const x = member;\n",
    'src/mvcc/index.ts': "export { MvccStore } from './store';\n",
    'src/mvcc/store.ts': "import * as grpc from '@grpc/grpc-js';\nexport class MvccStore { g = grpc; }\n",
    'src/api/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
    'src/api/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
    'src/api/index.ts': "export { a } from './a';\n",
    'test/x.test.ts': "import { MvccStore } from '../src/" + "mvcc/store';\nvoid MvccStore;\n",
  });
  try {
    const r = check(root);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /src\/cli\/index\.ts: cli\/ may not import server\/ \(\.\.\/server\)/);
    assert.match(r.out, /test\/x\.test\.ts: import src\/mvcc\/ through its index\.ts, not \.\.\/src\/mvcc\/store/);
    assert.match(r.out, /import cycle: src\/api\/a\.ts ⇄ src\/api\/b\.ts/);
    assert.match(r.out, /src\/mvcc\/store\.ts: @grpc\/grpc-js may be imported only in/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('this repository passes the dependency check', () => {
  const r = check(repoRoot);
  assert.equal(r.status, 0, r.out);
});
