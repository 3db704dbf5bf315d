// keelctl: etcdctl's v3 commands, flags, ETCDCTL_* variables and output.
export { run, main, commandTree } from './main';
export type { Io } from './runtime';
