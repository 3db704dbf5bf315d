// etcdctl's exit codes, and the error that ends a command with one.

export const Exit = {
  success: 0,
  error: 1,
  badConnection: 2,
  invalidInput: 3,
  badFeature: 4,
  interrupted: 5,
  io: 6,
  badArgs: 128,
} as const;

/** Exit code meaning "die by the signal that interrupted us" (what Go's etcdctl does on Ctrl-C). */
export const exitBySignal = -2;

/** Ends the command: "Error: <message>" on stderr (unless silent) and the exit code. */
export class ExitError extends Error {
  readonly code: number;
  readonly silent: boolean;
  constructor(code: number, message: string, silent = false) {
    super(message);
    this.name = 'ExitError';
    this.code = code;
    this.silent = silent;
  }
}
