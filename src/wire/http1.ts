// A small HTTP/1.1 server connection (RFC 9112): keep-alive, Content-Length
// and chunked request bodies, chunked streamed responses, one request at a
// time (pipelined ones wait, bounded), and a deadline on reading each
// request so a slowloris client cannot hold a connection.
import type { Duplex } from 'node:stream';
import { limits } from '../util';
import { Metadata } from './grpc-status';
import { runHttp, type HttpRequest, type HttpResponse, type HttpRouter } from './http';

export interface Http1Host {
  router: HttpRouter;
  /** Time to read one request (head and body): wireHeadTimeoutMs unless a test shortens it. */
  headTimeoutMs: number;
  onHandlerError(e: unknown): void;
  onClose(conn: Http1Connection): void;
}

const statusTexts: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found', 304: 'Not Modified',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 411: 'Length Required', 413: 'Request Entity Too Large', 415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

interface Head {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  fields: string[];
  keepAlive: boolean;
}

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class Http1Connection {
  private buf: Buffer = Buffer.alloc(0);
  private head: Head | undefined = undefined;
  private bodyNeed = -1; // Content-Length body bytes still to come; -1: none pending
  private chunked = false;
  private chunks: Buffer[] = [];
  private bodyBytes = 0;
  private active: Http1Response | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  private draining = false;
  /** Between requests of a kept-alive connection (the idle timeout runs, not the head timeout). */
  private idle = false;

  constructor(readonly socket: Duplex, private readonly host: Http1Host, first: Buffer | undefined) {
    socket.on('data', (chunk: Buffer) => this.onRead(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.active?.onDrain());
    this.arm(this.host.headTimeoutMs);
    if (first !== undefined && first.length > 0) this.onRead(first);
  }

  /** Graceful: finish the request in progress, then close. */
  shutdown(): void {
    this.draining = true;
    if (this.active === undefined) this.endSocket();
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.destroy(), ms);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onRead(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.idle && chunk.length > 0) {
      this.idle = false;
      this.arm(this.host.headTimeoutMs);
    }
    try {
      this.process();
    } catch (e) {
      if (!(e instanceof BadRequest)) throw e;
      this.reject(e.status, e.message);
    }
  }

  private process(): void {
    while (!this.closed && this.active === undefined && this.buf.length > 0) {
      if (this.head === undefined && !this.readHead()) break;
      if (!this.readBody()) break;
      this.dispatch();
    }
    // Pipelined requests wait for the one in progress; their bytes are bounded.
    if (this.buf.length > limits.http1HeadBytesMax + limits.http1BodyBytesMax) this.socket.pause();
  }

  private readHead(): boolean {
    const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1');
    if (end < 0) {
      if (this.buf.length > limits.http1HeadBytesMax) throw new BadRequest(431, 'request head too large');
      return false;
    }
    if (end > limits.http1HeadBytesMax) throw new BadRequest(431, 'request head too large');
    const text = this.buf.toString('latin1', 0, end);
    this.buf = this.buf.subarray(end + 4);
    this.head = parseHead(text);
    this.startBody(this.head);
    return true;
  }

  private startBody(head: Head): void {
    const te = fieldValue(head.fields, 'transfer-encoding');
    const cl = fieldValue(head.fields, 'content-length');
    if (te !== undefined && cl !== undefined) throw new BadRequest(400, 'both Transfer-Encoding and Content-Length');
    this.chunks = [];
    this.bodyBytes = 0;
    this.chunked = false;
    this.bodyNeed = 0;
    if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') throw new BadRequest(501, 'unsupported transfer encoding');
      this.chunked = true;
      this.continueIfAsked(head);
      return;
    }
    if (cl === undefined) return;
    if (!/^[0-9]{1,15}$/.test(cl)) throw new BadRequest(400, 'bad Content-Length');
    const n = Number(cl);
    if (n > limits.http1BodyBytesMax) throw new BadRequest(413, 'request body too large');
    this.bodyNeed = n;
    this.continueIfAsked(head);
  }

  /** curl holds back bodies over 1 kB for a second unless the server says 100 Continue. */
  private continueIfAsked(head: Head): void {
    if (head.version !== '1.1' || this.buf.length > 0) return;
    if ((fieldValue(head.fields, 'expect') ?? '').toLowerCase() === '100-continue') this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  }

  /** True once the whole body is in. */
  private readBody(): boolean {
    if (this.chunked) return this.readChunks();
    if (this.buf.length < this.bodyNeed) return false;
    if (this.bodyNeed > 0) this.chunks.push(Buffer.from(this.buf.subarray(0, this.bodyNeed)));
    this.buf = this.buf.subarray(this.bodyNeed);
    this.bodyNeed = 0;
    return true;
  }

  private readChunks(): boolean {
    for (;;) {
      const eol = this.buf.indexOf('\r\n', 0, 'latin1');
      if (eol < 0) {
        if (this.buf.length > 1024) throw new BadRequest(400, 'bad chunk size line');
        return false;
      }
      const sizeText = this.buf.toString('latin1', 0, eol).split(';')[0]?.trim() ?? '';
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new BadRequest(400, 'bad chunk size');
      const size = parseInt(sizeText, 16);
      if (size === 0) return this.readLastChunk(eol + 2);
      if (this.bodyBytes + size > limits.http1BodyBytesMax) throw new BadRequest(413, 'request body too large');
      if (this.buf.length < eol + 2 + size + 2) return false;
      this.chunks.push(Buffer.from(this.buf.subarray(eol + 2, eol + 2 + size)));
      this.bodyBytes += size;
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }

  /** The zero chunk, then optional trailer lines, then an empty line. */
  private readLastChunk(from: number): boolean {
    const end = this.buf.indexOf('\r\n', from, 'latin1');
    if (end < 0) return false;
    if (end === from) {
      this.buf = this.buf.subarray(end + 2);
      this.chunked = false;
      return true;
    }
    const done = this.buf.indexOf('\r\n\r\n', from, 'latin1');
    if (done < 0) {
      if (this.buf.length - from > limits.http1HeadBytesMax) throw new BadRequest(431, 'trailers too large');
      return false;
    }
    this.buf = this.buf.subarray(done + 4);
    this.chunked = false;
    return true;
  }

  private dispatch(): void {
    const head = this.head as Head;
    this.head = undefined;
    this.disarm();
    const req: HttpRequest = {
      method: head.method,
      path: head.target,
      authority: fieldValue(head.fields, 'host') ?? '',
      headers: new Metadata(head.fields),
      body: this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks),
      httpVersion: head.version,
    };
    this.chunks = [];
    const res = new Http1Response(this, head.method === 'HEAD', head.version, head.keepAlive && !this.draining);
    this.active = res;
    runHttp(this.host.router.find(head.target), req, res, (e) => this.host.onHandlerError(e));
  }

  /** The response ended: next request, or close. */
  responseDone(res: Http1Response): void {
    if (this.active !== res) return;
    this.active = undefined;
    if (!res.keepAlive || this.draining) return this.endSocket();
    this.socket.resume();
    this.idle = this.buf.length === 0;
    this.arm(this.idle ? limits.http1IdleTimeoutMs : this.host.headTimeoutMs);
    if (this.buf.length > 0) setImmediate(() => this.onRead(Buffer.alloc(0)));
  }

  write(data: Buffer | string): boolean {
    if (this.closed) return false;
    return this.socket.write(data);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private reject(status: number, message: string): void {
    const body = `${status} ${statusTexts[status] ?? ''}: ${message}`;
    this.socket.write(`HTTP/1.1 ${status} ${statusTexts[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    this.buf = Buffer.alloc(0);
    this.endSocket();
  }

  private onEnd(): void {
    if (this.active === undefined) this.endSocket();
    else this.draining = true;
  }

  private endSocket(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    this.arm(limits.wireShutdownGraceMs);
    this.host.onClose(this);
  }

  destroy(): void {
    this.disarm();
    const wasClosed = this.closed;
    this.closed = true;
    this.socket.destroy();
    this.active?.onGone();
    this.active = undefined;
    if (!wasClosed) this.host.onClose(this);
  }
}

function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  if (lines.length > limits.http1HeaderLinesMax + 1) throw new BadRequest(431, 'too many header lines');
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? '');
  if (m === null) throw new BadRequest(400, 'malformed request line');
  const version = m[3] === '1' ? '1.1' : '1.0';
  const fields: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0 || line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) throw new BadRequest(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new BadRequest(400, 'malformed header name');
    fields.push(name.toLowerCase(), line.slice(colon + 1).trim());
  }
  const conn = (fieldValue(fields, 'connection') ?? '').toLowerCase();
  const keepAlive = version === '1.1' ? !conn.includes('close') : conn.includes('keep-alive');
  if (version === '1.1' && fieldValue(fields, 'host') === undefined) throw new BadRequest(400, 'missing required Host header');
  return { method: m[1] as string, target: m[2] as string, version, fields, keepAlive };
}

function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

class Http1Response implements HttpResponse {
  statusCode = 200;
  private readonly headers: string[] = [];
  private headSent = false;
  private ended = false;
  private chunkedOut = false;
  private listeners: Array<() => void> | undefined = undefined;
  private drainWaiter: (() => void) | undefined = undefined;

  constructor(private readonly conn: Http1Connection, private readonly isHead: boolean, private readonly version: '1.0' | '1.1', public keepAlive: boolean) {}

  get closed(): boolean {
    return this.conn.isClosed && !this.ended;
  }

  setHeader(name: string, value: string): void {
    this.headers.push(name, value);
  }

  write(chunk: Buffer | string): boolean {
    if (this.ended || this.conn.isClosed) return false;
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headSent) {
      // A streamed body: chunked over HTTP/1.1, delimited by closing over HTTP/1.0.
      if (this.version === '1.1') this.chunkedOut = true;
      else this.keepAlive = false;
      this.sendHead(-1);
    }
    if (this.isHead || b.length === 0) return true;
    if (!this.chunkedOut) return this.conn.write(b);
    return this.conn.write(Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, crlf]));
  }

  drained(): Promise<void> {
    if (this.conn.isClosed || this.conn.socket.writableLength <= limits.h2StreamQueuedBytesMax) return Promise.resolve();
    return new Promise((resolve) => (this.drainWaiter = resolve));
  }

  onDrain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    if (w !== undefined) w();
  }

  end(body?: Buffer | string): void {
    if (this.ended) return;
    const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    if (!this.headSent) {
      const head = this.head(b?.length ?? 0);
      this.conn.write(b === undefined || this.isHead ? head : Buffer.concat([head, b]));
    } else {
      if (b !== undefined && b.length > 0) this.write(b);
      if (this.chunkedOut) this.conn.write(lastChunk);
    }
    this.ended = true;
    this.conn.responseDone(this);
  }

  onClose(listener: () => void): void {
    if (this.listeners === undefined) this.listeners = [];
    this.listeners.push(listener);
  }

  onGone(): void {
    this.onDrain();
    const l = this.listeners;
    this.listeners = undefined;
    if (!this.ended && l !== undefined) for (const f of l) f();
  }

  private sendHead(contentLength: number): void {
    this.conn.write(this.head(contentLength));
  }

  private head(contentLength: number): Buffer {
    this.headSent = true;
    let s = `HTTP/${this.version} ${this.statusCode} ${statusTexts[this.statusCode] ?? 'Status'}\r\n`;
    for (let i = 0; i < this.headers.length; i += 2) s += `${this.headers[i]}: ${this.headers[i + 1]}\r\n`;
    if (contentLength >= 0) s += `Content-Length: ${contentLength}\r\n`;
    if (this.chunkedOut) s += 'Transfer-Encoding: chunked\r\n';
    if (!this.keepAlive) s += 'Connection: close\r\n';
    else if (this.version === '1.0') s += 'Connection: keep-alive\r\n';
    return Buffer.from(s + '\r\n', 'latin1');
  }
}

const crlf = Buffer.from('\r\n');
const lastChunk = Buffer.from('0\r\n\r\n');
