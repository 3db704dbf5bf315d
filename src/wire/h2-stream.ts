// One HTTP/2 stream as the server sees it: headers in, DATA in and out under
// flow control, trailers, reset. The connection owns the wire; a stream only
// queues what it may not send yet and hands frames to the connection's
// output, which goes to the socket once per turn.
import { assert, limits } from '../util';
import { ErrorCode, Flag, FrameType, frameHeaderBytes } from './frames';
import type { H2Connection } from './h2-connection';

/** What the layer above (gRPC or HTTP) does with a stream's inbound side. */
export interface StreamSink {
  /** Request DATA (a view into the read buffer: copy what outlives the call); end: the client is done. */
  onData(data: Buffer, end: boolean): void;
  /** Request trailers (rare: gRPC clients send none). end is always true. */
  onTrailers?(fields: string[]): void;
  /** The stream is gone before the response ended: the client reset it or the connection closed. */
  onReset(code: number): void;
  /** Queued response bytes fell below h2StreamQueuedBytesMax again. */
  onWritable(): void;
}

/** The pseudo-headers of a request and its other fields as [name, value, …]. */
export interface RequestHead {
  method: string;
  path: string;
  scheme: string;
  authority: string;
  fields: string[];
}

export class H2Stream {
  sink: StreamSink | undefined = undefined;
  /** The client sent END_STREAM. */
  remoteClosed = false;
  /** This side sent END_STREAM (or a reset). */
  localClosed = false;
  headersSent = false;
  /** What the client may still send before a WINDOW_UPDATE. */
  recvWindow: number;
  /** Bytes consumed by the sink and not yet credited back. */
  private recvUnacked = 0;
  sendWindow: number;
  private readonly queue: Buffer[] = [];
  private queueHead = 0;
  /** Offset into queue[queueHead] already sent. */
  private headOffset = 0;
  queuedBytes = 0;
  private endQueued = false;
  private trailers: string[] | undefined = undefined;
  /** A writer was refused (queue over the bound) and waits for onWritable. */
  private wantsWritable = false;

  constructor(readonly id: number, readonly conn: H2Connection, sendWindow: number) {
    this.recvWindow = limits.h2StreamWindowBytes;
    this.sendWindow = sendWindow;
  }

  get closed(): boolean {
    return this.localClosed && this.remoteClosed;
  }

  /** Sends response headers (END_STREAM with them for a headers-only response). */
  respond(fields: readonly string[], endStream: boolean): void {
    assert(!this.headersSent, 'h2: response headers sent once');
    if (this.localClosed) return;
    this.headersSent = true;
    this.conn.writeHeaders(this.id, fields, endStream);
    if (endStream) this.finishLocal();
  }

  /** Queues response DATA; returns false when the stream holds more than h2StreamQueuedBytesMax unsent. */
  write(chunk: Buffer): boolean {
    if (this.localClosed) return false;
    this.enqueue(chunk);
    return this.afterEnqueue();
  }

  /** Two chunks sent as one (a gRPC message's 5-byte prefix and its body share a DATA frame). */
  write2(first: Buffer, second: Buffer): boolean {
    if (this.localClosed) return false;
    this.enqueue(first);
    this.enqueue(second);
    return this.afterEnqueue();
  }

  private enqueue(chunk: Buffer): void {
    assert(this.headersSent, 'h2: headers before data');
    assert(!this.endQueued, 'h2: no data after end');
    if (chunk.length === 0) return;
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.conn.queuedBytes += chunk.length;
  }

  private afterEnqueue(): boolean {
    this.pump();
    if (this.queuedBytes <= limits.h2StreamQueuedBytesMax) return true;
    this.wantsWritable = true;
    return false;
  }

  /** Ends the response after the queued DATA, with trailers (a HEADERS frame) or an empty END_STREAM DATA frame. */
  end(trailers: string[] | undefined): void {
    assert(this.headersSent, 'h2: headers before end');
    if (this.localClosed || this.endQueued) return;
    this.endQueued = true;
    this.trailers = trailers;
    this.pump();
  }

  /** The sink took n bytes of request DATA: the client may send that much more. */
  consumed(n: number): void {
    if (this.remoteClosed || n === 0) return;
    this.recvUnacked += n;
    // Batched: credit once a quarter of the window is used up.
    if (this.recvUnacked < limits.h2StreamWindowBytes / 4) return;
    this.recvWindow += this.recvUnacked;
    this.conn.writeWindowUpdate(this.id, this.recvUnacked);
    this.recvUnacked = 0;
  }

  /** Resets the stream from this side. */
  reset(code: ErrorCode): void {
    if (this.localClosed && this.remoteClosed) return;
    this.dropQueue();
    this.localClosed = true;
    this.remoteClosed = true;
    this.conn.writeRst(this.id, code);
    this.conn.streamClosed(this);
  }

  /** The client reset the stream, or the connection is gone. */
  abort(code: number): void {
    this.dropQueue();
    this.localClosed = true;
    this.remoteClosed = true;
    const sink = this.sink;
    this.sink = undefined;
    if (sink !== undefined) sink.onReset(code);
  }

  /** Sends what the windows allow; queues the rest (the connection calls again on WINDOW_UPDATE). */
  pump(): void {
    while (this.queuedBytes > 0) {
      const avail = Math.min(this.sendWindow, this.conn.sendWindow, this.conn.peerMaxFrameBytes);
      if (avail <= 0) {
        this.conn.blocked(this);
        return;
      }
      this.sendFrame(Math.min(avail, this.queuedBytes));
    }
    if (this.endQueued) this.sendEnd();
    if (this.wantsWritable && this.queuedBytes <= limits.h2StreamQueuedBytesMax) {
      this.wantsWritable = false;
      this.sink?.onWritable();
    }
  }

  private sendFrame(n: number): void {
    const last = n === this.queuedBytes && this.endQueued && this.trailers === undefined;
    const out = this.conn.out;
    out.ensure(frameHeaderBytes + n);
    out.header(n, FrameType.Data, last ? Flag.EndStream : 0, this.id);
    let left = n;
    while (left > 0) {
      const chunk = this.queue[this.queueHead] as Buffer;
      const take = Math.min(left, chunk.length - this.headOffset);
      out.buf.set(take === chunk.length ? chunk : chunk.subarray(this.headOffset, this.headOffset + take), out.pos);
      out.pos += take;
      left -= take;
      this.headOffset += take;
      if (this.headOffset === chunk.length) this.shiftQueue();
    }
    this.sendWindow -= n;
    this.conn.sendWindow -= n;
    this.queuedBytes -= n;
    this.conn.queuedBytes -= n;
    this.conn.sentData();
    if (last) this.finishLocal();
    // A turn that sends a lot writes as it goes, so the output buffer stays bounded.
    if (out.pos >= limits.wireWriteBatchBytesMax) this.conn.flush();
  }

  private shiftQueue(): void {
    this.queue[this.queueHead] = empty;
    this.queueHead++;
    this.headOffset = 0;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
  }

  private sendEnd(): void {
    if (this.localClosed) return;
    if (this.trailers !== undefined) this.conn.writeHeaders(this.id, this.trailers, true);
    else this.conn.writeEmptyEnd(this.id);
    this.finishLocal();
  }

  private finishLocal(): void {
    this.localClosed = true;
    this.endQueued = true;
    if (!this.remoteClosed) {
      // RFC 9113 8.1: a complete response before the request ended; the client may stop sending.
      this.remoteClosed = true;
      this.conn.writeRst(this.id, ErrorCode.NoError);
    }
    this.conn.streamClosed(this);
  }

  private dropQueue(): void {
    this.conn.queuedBytes -= this.queuedBytes;
    this.queuedBytes = 0;
    this.queue.length = 0;
    this.queueHead = 0;
    this.headOffset = 0;
  }
}

const empty = Buffer.alloc(0);
