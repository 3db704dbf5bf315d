// What keelctl and keelutl get from their process. cmd/ builds it: only cmd/
// reads argv and the environment, listens for signals and sets the exit code;
// src/cli receives argv, this, and returns the exit code.

export type Env = Readonly<Record<string, string | undefined>>;

export interface Io {
  /** Writes all of data to stdout before returning. */
  out(data: string | Buffer): void;
  /** Writes all of data to stderr before returning. */
  err(data: string): void;
  /** All of stdin (empty when there is none). */
  stdin(): Buffer;
  env: Env;
  /** Calls handler on SIGINT or SIGTERM until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
}

export interface Interrupt {
  /** Resolves on the first SIGINT or SIGTERM. */
  promise: Promise<void>;
  /** Whether an interrupt came within ms. */
  within(ms: number): Promise<boolean>;
  dispose(): void;
}

/** SIGINT/SIGTERM as a promise: etcdctl's long-running commands stop on Ctrl-C. */
export function waitForInterrupt(io: Io): Interrupt {
  let fire: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  const dispose = io.onInterrupt(() => fire());
  const within = (ms: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void promise.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  return { promise, within, dispose };
}
