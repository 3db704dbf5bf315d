#!/usr/bin/env node
// Enforces DESIGN.md's layering: which src/ folder may import which, where
// grpc and level may be imported, no import cycle in src/, and test/, bench/,
// jepsen/ and cmd/ import a src/ folder only through its index.ts. Fails CI
// on a violation. `node scripts/check-deps.js [ROOT]` checks another tree
// (test/deps.test.ts gives it one with deliberate violations).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
const allowed = {
  util: [],
  raft: ['util'],
  storage: ['util', 'raft'],
  mvcc: ['util', 'storage'],
  lease: ['util', 'storage', 'mvcc'],
  auth: ['util', 'storage', 'mvcc'],
  // The raft WAL; storage only for migrating a LevelDB raft log (DurableRaftStorage) into it.
  wal: ['util', 'raft', 'storage'],
  server: ['util', 'raft', 'storage', 'wal', 'mvcc', 'lease', 'auth'],
  transport: ['util', 'raft', 'server', 'proto'],
  proto: [],
  api: ['util', 'server', 'mvcc', 'lease', 'auth', 'proto', 'wire'],
  client: ['util', 'proto'],
  wire: ['util'],
  // keelctl and keelutl: their offline work (snapshot files, data dirs) arrives from cmd/ as an OfflineTools object.
  cli: ['util', 'client', 'proto'],
};
const externalOnly = {
  '@grpc/grpc-js': ['api', 'transport', 'client', 'proto', 'cli'],
  '@grpc/proto-loader': ['proto'],
  level: ['storage'],
  'classic-level': ['storage'],
  '@node-rs/crc32': ['wal'],
};

function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const problems = [];
/** file → files it imports (relative imports within src/), for the cycle check. */
const graph = new Map();
function resolveTs(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const cand of [base + '.ts', path.join(base, 'index.ts')]) if (fs.existsSync(cand)) return cand;
  return undefined;
}
for (const file of walk(path.join(root, 'src'), [])) {
  graph.set(file, []);
  const layer = path.relative(path.join(root, 'src'), file).split(path.sep)[0];
  const src = fs.readFileSync(file, 'utf8');
  const re = /(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m; (m = re.exec(src)); ) {
    const spec = m[1] || m[2] || m[3];
    if (spec.startsWith('.')) {
      const resolved = resolveTs(file, spec);
      if (resolved !== undefined && !/^\s*import\s+type\b/.test(m[0]) && !/^\s*export\s+type\b/.test(m[0])) graph.get(file).push(resolved);
      const target = path.relative(path.join(root, 'src'), path.resolve(path.dirname(file), spec)).split(path.sep)[0];
      if (target === layer) continue;
      if (target.startsWith('..')) { problems.push(`${path.relative(root, file)}: imports outside src/: ${spec}`); continue; }
      if (!(allowed[layer] || []).includes(target)) problems.push(`${path.relative(root, file)}: ${layer}/ may not import ${target}/ (${spec})`);
      const rest = path.relative(path.join(root, 'src', target), path.resolve(path.dirname(file), spec));
      if (rest !== '' && rest !== 'index') problems.push(`${path.relative(root, file)}: import ${target}/ through its index.ts, not ${spec}`);
    } else {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      const only = externalOnly[pkg];
      if (only && !only.includes(layer)) problems.push(`${path.relative(root, file)}: ${pkg} may be imported only in ${only.join(', ')}`);
    }
  }
}
// Outside src/: a src/ folder only through its index.ts (its other files are private to it).
for (const dir of ['test', 'bench', 'jepsen', 'cmd']) {
  if (!fs.existsSync(path.join(root, dir))) continue;
  for (const file of walk(path.join(root, dir), [])) {
    const src = fs.readFileSync(file, 'utf8');
    const re = /(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g;
    for (let m; (m = re.exec(src)); ) {
      const spec = m[1] || m[2] || m[3];
      if (!spec.startsWith('.')) continue;
      const rel = path.relative(path.join(root, 'src'), path.resolve(path.dirname(file), spec));
      if (rel.startsWith('..') || rel === '') continue;
      const [folder, ...rest] = rel.split(path.sep);
      const inner = rest.join('/');
      if (inner !== '' && inner !== 'index') problems.push(`${path.relative(root, file)}: import src/${folder}/ through its index.ts, not ${spec}`);
    }
  }
}

// No import cycles (type-only imports excluded: they vanish at run time). Tarjan's SCCs.
{
  let counter = 0;
  const index = new Map(), low = new Map(), stack = [], onStack = new Set();
  const visit = (v) => {
    index.set(v, counter); low.set(v, counter); counter++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) || []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const scc = [];
      for (let w; w !== v; ) { w = stack.pop(); onStack.delete(w); scc.push(w); }
      if (scc.length > 1) problems.push(`import cycle: ${scc.map((f) => path.relative(root, f)).sort().join(' ⇄ ')}`);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
}
if (problems.length > 0) {
  console.error('dependency check failed:\n  ' + problems.join('\n  '));
  process.exit(1);
}
console.log('dependency check: ok');
