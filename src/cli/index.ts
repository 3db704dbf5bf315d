// keelctl (etcdctl's v3 commands, flags, ETCDCTL_* variables and output) and
// keelutl (etcdutl's offline commands). Entered from cmd/ only.
export { run, commandTree } from './main';
export { runUtl } from './keelutl';
export { Exit, exitBySignal } from './exit';
export type { Io, Env } from './io';
export { OfflineError, type OfflineErrorKind, type OfflineTools, type DefragResult, type RestoreResult, type BootstrapMember, type BootstrapIds } from './offline';
export type { DbStatus, DbHashKV } from './printers';
// For unit tests of the parts (test/ imports a src folder only through its index.ts).
export { goDuration, goJsonString, goQuote, humanizeBytes, parseGoDuration } from './go-format';
export { FlagError, flagSpecs, parseFlags } from './flags';
export { renderTable } from './table';
export { argify } from './commands/kv';
