// keelutl: etcdutl's offline tools for keel (snapshot status|restore, defrag,
// hashkv on a stopped member's data dir). Like keel itself, and unlike
// keelctl's network commands, it works on the storage layers directly; this
// file is its process (argv, env, signals, exit code).
import { runUtl } from '../src/cli';
import { lazyOfflineTools } from './offline-tools-lazy';
import { exitWith, processIo } from './process-io';

void runUtl(process.argv.slice(2), processIo(), lazyOfflineTools()).then(exitWith);
