// Invariant checks that stay on in production. A failed assertion means keel's
// own state is wrong: it crashes the member and is never mapped to a gRPC error.
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, message: string): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
