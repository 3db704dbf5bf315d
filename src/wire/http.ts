// Plain HTTP on the client port (/health, /version, /metrics, the JSON
// gateway): the route table and its request/response types, shared by the
// HTTP/1.1 connection and by HTTP/2 streams that do not carry gRPC.
import { limits } from '../util';
import { Metadata } from './grpc-status';
import type { H2Stream, RequestHead, StreamSink } from './h2-stream';

export interface HttpRequest {
  readonly method: string;
  /** The request target as sent: path and query. */
  readonly path: string;
  readonly authority: string;
  readonly headers: Metadata;
  readonly body: Buffer;
  readonly httpVersion: '1.0' | '1.1' | '2';
}

export interface HttpResponse {
  /** Defaults to 200; set before the first write. */
  statusCode: number;
  setHeader(name: string, value: string): void;
  /** Sends a part of a streamed body (chunked over HTTP/1.1); false: wait for drained(). */
  write(chunk: Buffer | string): boolean;
  drained(): Promise<void>;
  /** Ends the response (a body given here alone goes with Content-Length). */
  end(body?: Buffer | string): void;
  /** The client went away. */
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

export type HttpHandler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

export class HttpRouter {
  private readonly exact = new Map<string, HttpHandler>();
  private readonly prefixes: Array<[string, HttpHandler]> = [];

  /** Serves requests whose path (before '?') is exactly path. */
  route(path: string, handler: HttpHandler): void {
    this.exact.set(path, handler);
  }

  /** Serves requests whose path starts with prefix (longest prefix wins). */
  prefix(prefix: string, handler: HttpHandler): void {
    this.prefixes.push([prefix, handler]);
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
  }

  find(path: string): HttpHandler {
    const q = path.indexOf('?');
    const p = q < 0 ? path : path.slice(0, q);
    const h = this.exact.get(p);
    if (h !== undefined) return h;
    for (const [prefix, handler] of this.prefixes) if (p.startsWith(prefix)) return handler;
    return notFound;
  }
}

/** Go's http.NotFound, which etcd's mux answers with. */
function notFound(_req: HttpRequest, res: HttpResponse): void {
  res.statusCode = 404;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('x-content-type-options', 'nosniff');
  res.end('404 page not found\n');
}

/** Runs a handler; a throw becomes a 500 when nothing was sent yet. */
export function runHttp(handler: HttpHandler, req: HttpRequest, res: HttpResponse, onError: (e: unknown) => void): void {
  let r: void | Promise<void>;
  try {
    r = handler(req, res);
  } catch (e) {
    failHttp(res, e, onError);
    return;
  }
  if (r instanceof Promise) r.catch((e: unknown) => failHttp(res, e, onError));
}

function failHttp(res: HttpResponse, e: unknown, onError: (e: unknown) => void): void {
  onError(e);
  if (res.closed) return;
  try {
    res.statusCode = 500;
    res.end('internal server error\n');
  } catch {
    /* the response had begun: nothing more to say */
  }
}

/** An HTTP request over an HTTP/2 stream: the body is gathered (bounded), then the route runs. */
export class HttpOverH2 implements StreamSink, HttpResponse {
  statusCode = 200;
  closed = false;
  private readonly headers: string[] = [];
  private readonly chunks: Buffer[] = [];
  private bodyBytes = 0;
  private listeners: Array<() => void> | undefined = undefined;
  private drainWaiter: (() => void) | undefined = undefined;

  constructor(private readonly stream: H2Stream, private readonly head: RequestHead, private readonly handler: HttpHandler, private readonly onError: (e: unknown) => void) {
    stream.sink = this;
  }

  onData(data: Buffer, end: boolean): void {
    this.bodyBytes += data.length;
    this.stream.consumed(data.length);
    if (this.bodyBytes > limits.httpBodyBytesMax) {
      if (!this.stream.headersSent) this.stream.respond([':status', '413'], true);
      return;
    }
    if (data.length > 0) this.chunks.push(Buffer.from(data));
    if (end) this.run();
  }

  run(): void {
    const req: HttpRequest = {
      method: this.head.method,
      path: this.head.path,
      authority: this.head.authority,
      headers: new Metadata(this.head.fields),
      body: Buffer.concat(this.chunks),
      httpVersion: '2',
    };
    this.chunks.length = 0;
    runHttp(this.handler, req, this, this.onError);
  }

  onReset(): void {
    this.closed = true;
    this.onWritable();
    const l = this.listeners;
    this.listeners = undefined;
    if (l !== undefined) for (const f of l) f();
  }

  onWritable(): void {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    if (w !== undefined) w();
  }

  setHeader(name: string, value: string): void {
    this.headers.push(name.toLowerCase(), value);
  }

  private ended = false;

  write(chunk: Buffer | string): boolean {
    if (this.closed || this.ended || this.stream.localClosed) return false;
    this.sendHead(false);
    return this.stream.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  drained(): Promise<void> {
    if (this.closed || this.stream.queuedBytes <= limits.h2StreamQueuedBytesMax) return Promise.resolve();
    return new Promise((resolve) => (this.drainWaiter = resolve));
  }

  end(body?: Buffer | string): void {
    if (this.closed || this.ended || this.stream.localClosed) return;
    this.ended = true;
    const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    if (!this.stream.headersSent && b !== undefined) this.headers.push('content-length', String(b.length));
    this.sendHead(b === undefined || b.length === 0);
    if (b !== undefined && b.length > 0) this.stream.write(b);
    this.stream.end(undefined);
  }

  onClose(listener: () => void): void {
    if (this.listeners === undefined) this.listeners = [];
    this.listeners.push(listener);
  }

  private sendHead(endStream: boolean): void {
    if (this.stream.headersSent) return;
    this.stream.respond([':status', String(this.statusCode), ...this.headers], endStream);
  }
}
