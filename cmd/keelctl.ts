// keelctl: the etcdctl-compatible CLI. This file is its process: argv, env,
// signals and the exit code are read and set here, and the offline commands'
// storage work (snapshot status|restore, defrag --data-dir) is wired in,
// loaded only when such a command runs.
import { run } from '../src/cli';
import { lazyOfflineTools } from './offline-tools-lazy';
import { exitWith, processIo } from './process-io';

void run(process.argv.slice(2), processIo(), lazyOfflineTools()).then(exitWith);
