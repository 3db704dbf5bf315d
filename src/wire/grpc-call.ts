// One gRPC call on one HTTP/2 stream: length-prefixed messages in and out,
// the handler's status as trailers (or a trailers-only response), deadlines,
// cancellation, and backpressure by bytes both ways.
import { AssertionError, assert, limits } from '../util';
import { Code, GrpcError, Metadata, goQuote, parseTimeout, percentEncode } from './grpc-status';
import type { H2Stream, RequestHead, StreamSink } from './h2-stream';

export type UnaryHandler = (request: Buffer, call: ServerCall) => Buffer | Promise<Buffer>;
export type ServerStreamHandler = (request: Buffer, call: ServerWriter) => void | Promise<void>;
export type ClientStreamHandler = (call: ServerReader) => Buffer | Promise<Buffer>;
export type BidiHandler = (call: ServerDuplex) => void | Promise<void>;

export type MethodDef =
  | { kind: 'unary'; handler: UnaryHandler; receiveMessageBytesMax?: number }
  | { kind: 'serverStream'; handler: ServerStreamHandler; receiveMessageBytesMax?: number }
  | { kind: 'clientStream'; handler: ClientStreamHandler; receiveMessageBytesMax?: number }
  | { kind: 'bidi'; handler: BidiHandler; receiveMessageBytesMax?: number };

/** What every handler gets. */
export interface ServerCall {
  /** "/package.Service/Method". */
  readonly path: string;
  readonly authority: string;
  readonly metadata: Metadata;
  /** Absolute deadline on the server's clock (ms), from grpc-timeout; undefined without one. */
  readonly deadlineMs: number | undefined;
  /** The client went away, reset the stream, or the deadline passed. */
  readonly cancelled: boolean;
  /** Runs once when the call is cancelled (not when it ends normally). */
  onCancel(listener: () => void): void;
  /** Adds a trailer to the final status (names lowercase). */
  setTrailer(name: string, value: string): void;
}

export interface ServerWriter extends ServerCall {
  /** Sends a message; false means the stream holds h2StreamQueuedBytesMax unsent: await drained() before more. */
  write(message: Buffer): boolean;
  /** Resolves when queued bytes fell below the bound again, or the call was cancelled. */
  drained(): Promise<void>;
}

export interface ServerReader extends ServerCall, AsyncIterable<Buffer> {
  /** The next request message, or undefined once the client half-closed. Throws GrpcError on a bad stream. */
  read(): Promise<Buffer | undefined>;
}

export interface ServerDuplex extends ServerWriter, ServerReader {}

/** Where calls report what the server should know. */
export interface CallHost {
  nowMs(): number;
  /** The receive limit of methods that do not set their own. */
  readonly receiveMessageBytesMax: number;
  /** A handler threw something that is not a GrpcError (an AssertionError crashes the process). */
  onHandlerError(e: unknown, path: string): void;
}

const okHeaders: readonly string[] = [':status', '200', 'content-type', 'application/grpc'];
const okTrailers: string[] = ['grpc-status', '0', 'grpc-message', ''];
const prefixBytes = 5;
const maxListeners = 16;

export class GrpcCall implements StreamSink, ServerDuplex {
  readonly metadata: Metadata;
  readonly path: string;
  readonly authority: string;
  deadlineMs: number | undefined = undefined;
  cancelled = false;
  private done = false;
  private extraTrailers: string[] | undefined = undefined;
  private cancelListeners: Array<() => void> | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly messageBytesMax: number;
  // Inbound message assembly.
  /** Only for a prefix split across reads. */
  private prefix: Buffer | undefined = undefined;
  private prefixHave = 0;
  private body: Buffer | undefined = undefined;
  private bodyHave = 0;
  private bodyLength = -1;
  private received = 0;
  // Streaming receive: messages not yet read, and stream credit held back while they pile up.
  private readonly inbox: Buffer[] = [];
  private inboxBytes = 0;
  private owedCredit = 0;
  private remoteEnded = false;
  private readFailure: GrpcError | undefined = undefined;
  private reader: ((m: Buffer | undefined) => void) | undefined = undefined;
  private readerFail: ((e: unknown) => void) | undefined = undefined;
  private drainWaiter: (() => void) | undefined = undefined;
  private drainPromise: Promise<void> | undefined = undefined;

  constructor(private readonly stream: H2Stream, private readonly def: MethodDef, head: RequestHead, private readonly host: CallHost) {
    this.metadata = new Metadata(head.fields);
    this.path = head.path;
    this.authority = head.authority;
    this.messageBytesMax = def.receiveMessageBytesMax ?? host.receiveMessageBytesMax;
    stream.sink = this;
  }

  /** Checks what grpc-go checks before a handler runs; false when the call already ended. */
  begin(): boolean {
    const enc = this.metadata.get('grpc-encoding');
    if (enc !== undefined && enc !== 'identity') {
      this.finish(Code.Unimplemented, `grpc: Decompressor is not installed for grpc-encoding ${goQuote(enc)}`);
      return false;
    }
    const timeout = this.metadata.get('grpc-timeout');
    if (timeout !== undefined && !this.startDeadline(timeout)) return false;
    if (this.def.kind === 'clientStream' || this.def.kind === 'bidi') this.runStreaming();
    return true;
  }

  private startDeadline(value: string): boolean {
    const ms = parseTimeout(value);
    if (typeof ms === 'string') {
      this.finish(Code.Internal, `malformed grpc-timeout: ${ms}`);
      return false;
    }
    this.deadlineMs = this.host.nowMs() + ms;
    this.timer = setTimeout(onDeadline, Math.min(ms, 2 ** 31 - 1), this);
    this.timer.unref();
    return true;
  }

  // --- inbound (StreamSink) ---------------------------------------------

  onData(data: Buffer, end: boolean): void {
    let p = 0;
    while (p < data.length && !this.done) p = this.bodyLength < 0 ? this.readPrefix(data, p) : this.readBody(data, p);
    // Bytes not held in unread messages are credited at once; the held ones when they are read.
    const held = Math.min(this.received, data.length);
    this.received = 0;
    this.owedCredit += held;
    this.stream.consumed(data.length - held);
    if (end && !this.done) this.onEnd();
  }

  private readPrefix(data: Buffer, p: number): number {
    let flag: number;
    let length: number;
    let next: number;
    if (this.prefixHave === 0 && data.length - p >= prefixBytes) {
      // The common case: the whole prefix in this read.
      flag = data[p] as number;
      length = data.readUInt32BE(p + 1);
      next = p + prefixBytes;
    } else {
      if (this.prefix === undefined) this.prefix = Buffer.allocUnsafe(prefixBytes);
      const take = Math.min(prefixBytes - this.prefixHave, data.length - p);
      data.copy(this.prefix, this.prefixHave, p, p + take);
      this.prefixHave += take;
      if (this.prefixHave < prefixBytes) return p + take;
      this.prefixHave = 0;
      flag = this.prefix[0] as number;
      length = this.prefix.readUInt32BE(1);
      next = p + take;
    }
    if (flag !== 0) {
      this.failReceive(flag === 1 ? new GrpcError(Code.Internal, 'grpc: compressed flag set with identity or empty encoding') : new GrpcError(Code.Internal, `grpc: received unexpected payload format ${flag}`));
      return data.length;
    }
    if (length > this.messageBytesMax) {
      this.failReceive(new GrpcError(Code.ResourceExhausted, `grpc: received message larger than max (${length} vs. ${this.messageBytesMax})`));
      return data.length;
    }
    this.bodyLength = length;
    this.bodyHave = 0;
    if (length === 0) this.onMessage(emptyMessage, prefixBytes);
    return next;
  }

  private readBody(data: Buffer, p: number): number {
    const need = this.bodyLength - this.bodyHave;
    const avail = data.length - p;
    if (this.bodyHave === 0 && avail >= need) {
      // The common case: the whole message in this read, no copy.
      this.onMessage(data.subarray(p, p + need), need + prefixBytes);
      return p + need;
    }
    if (this.body === undefined) this.body = Buffer.allocUnsafe(this.bodyLength);
    const take = Math.min(need, avail);
    data.copy(this.body, this.bodyHave, p, p + take);
    this.bodyHave += take;
    if (this.bodyHave < this.bodyLength) return p + take;
    const message = this.body;
    this.body = undefined;
    // Only the last chunk's bytes are held back with the message; the rest were credited as they came.
    this.onMessage(message, take);
    return p + take;
  }

  /** heldBytes: bytes of this read that belong to the message (credited when it is read). */
  private onMessage(message: Buffer, heldBytes: number): void {
    this.bodyLength = -1;
    const kind = this.def.kind;
    if (kind === 'unary' || kind === 'serverStream') {
      if (this.remoteEnded || this.inbox.length > 0 || this.started) return; // a second request message is ignored, as grpc-go does
      this.startSingle(message);
      return;
    }
    if (this.inbox.length >= limits.grpcReceiveQueueMessagesMax) {
      this.failReceive(new GrpcError(Code.ResourceExhausted, 'grpc: too many unread messages'));
      return;
    }
    if (this.reader !== undefined && this.inbox.length === 0) {
      this.deliver(message);
      return;
    }
    this.inbox.push(message);
    this.inboxBytes += message.length;
    this.received += heldBytes;
  }

  private onEnd(): void {
    this.remoteEnded = true;
    const partial = this.bodyLength >= 0 || this.prefixHave > 0;
    const kind = this.def.kind;
    if (kind === 'unary' || kind === 'serverStream') {
      if (!this.started) this.finish(Code.Unknown, partial ? 'unexpected EOF' : 'EOF');
      return;
    }
    if (partial) this.readFailure = new GrpcError(Code.Unknown, 'unexpected EOF');
    if (this.reader !== undefined && this.inbox.length === 0) this.settleReader();
  }

  /** A bad request stream ends the call; a streaming handler still running sees it cancelled (its reads end). */
  private failReceive(e: GrpcError): void {
    this.finish(e.code, e.message);
    this.cancel();
  }

  onReset(): void {
    this.cancel();
  }

  onWritable(): void {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    this.drainPromise = undefined;
    if (w !== undefined) w();
  }

  // --- running the handler ------------------------------------------------

  private started = false;

  private startSingle(request: Buffer): void {
    this.started = true;
    this.stream.conn.running++;
    const def = this.def;
    if (def.kind === 'unary') runUnary(this, def.handler, request);
    else if (def.kind === 'serverStream') runVoid(this, invokeServerStream(def.handler, request, this));
  }

  private runStreaming(): void {
    this.started = true;
    this.stream.conn.running++;
    const def = this.def;
    if (def.kind === 'clientStream') runUnary(this, (_req, call) => def.handler(call as GrpcCall), emptyMessage);
    else if (def.kind === 'bidi') runVoid(this, invokeBidi(def.handler, this));
  }

  /** The handler returned a response message. */
  replied(message: Buffer): void {
    this.handlerEnded();
    if (this.done) return;
    const s = this.stream;
    if (!s.headersSent) s.respond(okHeaders, false);
    s.write2(messagePrefix(message.length), message);
    this.finish(Code.Ok, '');
  }

  /** The handler settled without a message (streaming) or threw. */
  settled(e: unknown): void {
    this.handlerEnded();
    if (e === undefined) return this.finish(Code.Ok, '');
    if (e instanceof GrpcError) return this.finish(e.code, e.message, e.trailers);
    this.host.onHandlerError(e, this.path);
    this.finish(Code.Unknown, e instanceof Error ? e.message : String(e));
  }

  private handlerEnded(): void {
    this.stream.conn.handlerDone();
  }

  /** Ends the call with a status: trailers after a response, or a trailers-only response. */
  finish(code: number, message: string, trailers: readonly string[] = []): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    const s = this.stream;
    if (s.localClosed) return;
    const fields = code === Code.Ok && trailers.length === 0 && this.extraTrailers === undefined ? okTrailers : statusFields(code, message, trailers, this.extraTrailers);
    if (s.headersSent) {
      s.end(fields);
      return;
    }
    s.respond(code === Code.Ok ? okHeaders : okHeaders.concat(fields), code !== Code.Ok);
    if (code === Code.Ok) s.end(fields);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  deadlinePassed(): void {
    this.timer = undefined;
    if (this.done) return;
    this.finish(Code.DeadlineExceeded, 'context deadline exceeded');
    this.cancel();
  }

  private cancel(): void {
    this.done = true;
    this.clearTimer();
    if (this.cancelled) return;
    this.cancelled = true;
    this.settleReader();
    this.onWritable();
    const listeners = this.cancelListeners;
    this.cancelListeners = undefined;
    if (listeners !== undefined) for (const l of listeners) l();
  }

  // --- ServerCall / ServerWriter / ServerReader ---------------------------

  onCancel(listener: () => void): void {
    if (this.cancelled) return void queueMicrotask(listener);
    if (this.cancelListeners === undefined) this.cancelListeners = [];
    assert(this.cancelListeners.length < maxListeners, 'grpc: cancel listeners per call');
    this.cancelListeners.push(listener);
  }

  setTrailer(name: string, value: string): void {
    if (this.extraTrailers === undefined) this.extraTrailers = [];
    this.extraTrailers.push(name, value);
  }

  write(message: Buffer): boolean {
    if (this.done) return false;
    const s = this.stream;
    if (!s.headersSent) s.respond(okHeaders, false);
    return s.write2(messagePrefix(message.length), message);
  }

  drained(): Promise<void> {
    if (this.done || this.stream.queuedBytes <= limits.h2StreamQueuedBytesMax) return Promise.resolve();
    if (this.drainPromise === undefined) this.drainPromise = new Promise<void>((resolve) => (this.drainWaiter = resolve));
    return this.drainPromise;
  }

  read(): Promise<Buffer | undefined> {
    assert(this.reader === undefined, 'grpc: one read at a time');
    const m = this.inbox.shift();
    if (m !== undefined) {
      this.took(m);
      return Promise.resolve(m);
    }
    if (this.readFailure !== undefined) return Promise.reject(this.readFailure);
    if (this.remoteEnded || this.cancelled) return Promise.resolve(undefined);
    return new Promise<Buffer | undefined>((resolve, reject) => {
      this.reader = resolve;
      this.readerFail = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: async (): Promise<IteratorResult<Buffer>> => {
        const m = await this.read();
        return m === undefined ? { done: true, value: undefined } : { done: false, value: m };
      },
    };
  }

  private deliver(m: Buffer): void {
    const r = this.reader;
    this.reader = undefined;
    this.readerFail = undefined;
    if (r !== undefined) r(m);
  }

  private settleReader(): void {
    const r = this.reader;
    const f = this.readerFail;
    this.reader = undefined;
    this.readerFail = undefined;
    if (this.readFailure !== undefined && f !== undefined) f(this.readFailure);
    else if (r !== undefined) r(undefined);
  }

  /** A queued message was read: once the backlog is small again, the client gets its window back. */
  private took(m: Buffer): void {
    this.inboxBytes -= m.length;
    if (this.inboxBytes > limits.h2StreamWindowBytes / 2 || this.owedCredit === 0) return;
    this.stream.consumed(this.owedCredit);
    this.owedCredit = 0;
  }
}

function onDeadline(call: GrpcCall): void {
  call.deadlinePassed();
}

const emptyMessage = Buffer.alloc(0);

function messagePrefix(length: number): Buffer {
  const b = Buffer.allocUnsafe(prefixBytes);
  b[0] = 0;
  b.writeUInt32BE(length, 1);
  return b;
}

function statusFields(code: number, message: string, trailers: readonly string[], extra: readonly string[] | undefined): string[] {
  const fields = ['grpc-status', String(code), 'grpc-message', percentEncode(message)];
  for (const t of trailers) fields.push(t);
  if (extra !== undefined) for (const t of extra) fields.push(t);
  return fields;
}

async function runUnary(call: GrpcCall, handler: UnaryHandler, request: Buffer): Promise<void> {
  let response: Buffer;
  try {
    const r = handler(request, call);
    response = r instanceof Buffer ? r : await r;
    if (!(response instanceof Uint8Array)) throw new AssertionError('grpc: a unary handler returns a Buffer');
  } catch (e) {
    call.settled(e);
    return;
  }
  call.replied(response);
}

async function runVoid(call: GrpcCall, result: void | Promise<void>): Promise<void> {
  try {
    await result;
  } catch (e) {
    call.settled(e);
    return;
  }
  call.settled(undefined);
}

function invokeServerStream(handler: ServerStreamHandler, request: Buffer, call: GrpcCall): void | Promise<void> {
  try {
    return handler(request, call);
  } catch (e) {
    return Promise.reject(e);
  }
}

function invokeBidi(handler: BidiHandler, call: GrpcCall): void | Promise<void> {
  try {
    return handler(call);
  } catch (e) {
    return Promise.reject(e);
  }
}
