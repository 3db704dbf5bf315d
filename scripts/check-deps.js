#!/usr/bin/env node
// Enforces DESIGN.md's layering on the sources: which src/ folder may import
// which, and where grpc and level may be imported. Fails CI on a violation.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const allowed = {
  util: [],
  raft: ['util'],
  storage: ['util', 'raft'],
  mvcc: ['util', 'storage'],
  lease: ['util', 'storage', 'mvcc'],
  auth: ['util', 'storage', 'mvcc'],
  server: ['util', 'raft', 'storage', 'mvcc', 'lease', 'auth'],
  transport: ['util', 'raft', 'server', 'proto'],
  proto: [],
  api: ['util', 'server', 'mvcc', 'lease', 'auth', 'proto', 'wire'],
  client: ['util', 'proto'],
  wire: ['util'],
  // snapshot restore|status write and read a data dir, as etcdctl's (etcdutl's) do.
  cli: ['util', 'client', 'proto', 'server'],
};
const externalOnly = {
  '@grpc/grpc-js': ['api', 'transport', 'client', 'proto', 'cli'],
  '@grpc/proto-loader': ['proto'],
  level: ['storage'],
  'classic-level': ['storage'],
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
for (const file of walk(path.join(root, 'src'), [])) {
  const layer = path.relative(path.join(root, 'src'), file).split(path.sep)[0];
  const src = fs.readFileSync(file, 'utf8');
  const re = /(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m; (m = re.exec(src)); ) {
    const spec = m[1] || m[2] || m[3];
    if (spec.startsWith('.')) {
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
if (problems.length > 0) {
  console.error('dependency check failed:\n  ' + problems.join('\n  '));
  process.exit(1);
}
console.log('dependency check: ok');
