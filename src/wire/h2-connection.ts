// The server side of one HTTP/2 connection (RFC 9113) on any Duplex socket:
// frames parsed straight from each read (the requests of many streams from
// one read), flow control both ways, SETTINGS, PING with grpc-go's keepalive
// policy, GOAWAY, and the abuse bounds of util/limits.ts. Everything a turn
// produces for the socket (headers, data and trailers of every stream,
// window updates, acks) is appended to one buffer and written once, from a
// single setImmediate shared by all connections.
import type { Duplex } from 'node:stream';
import { assert, limits, type Clock } from '../util';
import { ErrorCode, Flag, FrameType, Output, Setting, connectionPreface, defaultWindowBytes, frameHeaderBytes, frameSizeCeiling, frameSizeFloor, windowBytesMax } from './frames';
import { DecodeStatus, HpackDecoder, HpackEncoder, HpackError } from './hpack';
import { H2Stream, type RequestHead } from './h2-stream';

export interface H2Options {
  clock: Clock;
  /** grpc-go's keepalive EnforcementPolicy: pings closer than this count as strikes. */
  keepaliveMinTimeMs: number;
  /** Whether pings are welcome on a connection without streams (etcd: false). */
  permitWithoutStream: boolean;
  streamsMax: number;
  headerListBytesMax: number;
  /** Time to receive the preface (wireHeadTimeoutMs unless a test shortens it). */
  headTimeoutMs: number;
}

export interface H2Dispatcher {
  /** A new request stream. endStream: it has no body. */
  onStream(stream: H2Stream, head: RequestHead, endStream: boolean): void;
  /** The connection is gone (after its streams were aborted). */
  onClose(conn: H2Connection): void;
}

class ConnectionError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

// --- one flush per turn for all connections ---
const dirty: H2Connection[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  // A flush may dirty a connection again (a sink writing from a callback): those wait for the next turn.
  const n = dirty.length;
  for (let i = 0; i < n; i++) (dirty[i] as H2Connection).flush();
  dirty.splice(0, n);
}

const connectionHeaders = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export class H2Connection {
  readonly out = new Output();
  readonly streams = new Map<number, H2Stream>();
  /** Handlers started and not finished, including those of streams already reset (rapid reset). */
  running = 0;
  sendWindow = defaultWindowBytes;
  peerMaxFrameBytes = frameSizeFloor;
  /** Response DATA bytes waiting in stream queues. */
  queuedBytes = 0;
  /** Counters a test or /metrics may read. */
  readonly stats = { reads: 0, framesIn: 0, streamsOpened: 0, writes: 0, resetsReceived: 0 };

  private peerInitialWindow = defaultWindowBytes;
  private readonly decoder = new HpackDecoder(limits.h2HeaderTableBytesMax);
  private readonly encoder = new HpackEncoder(limits.h2HeaderTableBytesMax);
  private readonly hpackSink = { buf: Buffer.allocUnsafe(1024), pos: 0 };
  private readonly fields: string[] = [];
  private pending: Buffer | undefined = undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  private lastStreamId = 0;
  private recvWindow = defaultWindowBytes;
  private recvUnacked = 0;
  // Header block being assembled (HEADERS then CONTINUATION).
  private blockStreamId = 0;
  private blockEndStream = false;
  private blockChunks: Buffer[] = [];
  private blockBytes = 0;
  private readonly blockedStreams = new Set<H2Stream>();
  private isDirty = false;
  private paused = false;
  private goawaySent = false;
  private closing = false;
  private destroyed = false;
  private lastPingMs = -Infinity;
  private pingStrikes = 0;
  private resetPingStrikes = false;
  private resetTokens: number = limits.h2ResetsBurstMax;
  private resetTokensAtMs: number;
  private headTimer: NodeJS.Timeout | undefined;

  constructor(readonly socket: Duplex, private readonly dispatcher: H2Dispatcher, private readonly options: H2Options, first: Buffer | undefined) {
    this.resetTokensAtMs = options.clock.nowMs();
    this.sendServerPreface();
    socket.on('data', (chunk: Buffer) => this.onRead(chunk));
    socket.on('drain', () => this.resume());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('end', () => this.onEnd());
    this.headTimer = setTimeout(() => this.destroy(), options.headTimeoutMs);
    this.headTimer.unref();
    if (first !== undefined && first.length > 0) this.onRead(first);
  }

  // --- reading ---------------------------------------------------------

  private onRead(chunk: Buffer): void {
    if (this.destroyed || this.closing) return;
    if (chunk.length > 0) this.stats.reads++;
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      this.parse();
    } catch (e) {
      if (!(e instanceof ConnectionError)) throw e;
      this.fail(e.code, e.message);
    }
    this.creditConnection();
    this.markDirty();
  }

  private parse(): void {
    let buf = this.pending as Buffer;
    let pos = 0;
    if (!this.prefaceSeen) {
      if (buf.length < connectionPreface.length) return;
      if (buf.compare(connectionPreface, 0, connectionPreface.length, 0, connectionPreface.length) !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'bad preface');
      this.prefaceSeen = true;
      pos = connectionPreface.length;
    }
    while (!this.paused && !this.closing && buf.length - pos >= frameHeaderBytes) {
      const length = (buf[pos] as number) * 65536 + (buf[pos + 1] as number) * 256 + (buf[pos + 2] as number);
      if (length > limits.h2FrameBytesMax) throw new ConnectionError(ErrorCode.FrameSizeError, 'frame too large');
      if (buf.length - pos < frameHeaderBytes + length) break;
      const type = buf[pos + 3] as number;
      const flags = buf[pos + 4] as number;
      const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const start = pos + frameHeaderBytes;
      pos = start + length;
      this.stats.framesIn++;
      this.onFrame(type, flags, streamId, buf.subarray(start, pos));
      if (this.pending !== buf) return; // destroyed or replaced meanwhile
      this.checkOutput();
    }
    this.pending = pos === buf.length ? undefined : buf.subarray(pos);
    buf = undefined as unknown as Buffer;
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== FrameType.Settings) throw new ConnectionError(ErrorCode.ProtocolError, 'first frame must be SETTINGS');
    if (this.blockStreamId !== 0 && type !== FrameType.Continuation) throw new ConnectionError(ErrorCode.ProtocolError, 'expected CONTINUATION');
    switch (type) {
      case FrameType.Data: return this.onData(flags, streamId, payload);
      case FrameType.Headers: return this.onHeaders(flags, streamId, payload);
      case FrameType.Priority: return this.onPriority(streamId, payload);
      case FrameType.RstStream: return this.onRst(streamId, payload);
      case FrameType.Settings: return this.onSettings(flags, streamId, payload);
      case FrameType.PushPromise: throw new ConnectionError(ErrorCode.ProtocolError, 'PUSH_PROMISE from a client');
      case FrameType.Ping: return this.onPing(flags, streamId, payload);
      case FrameType.Goaway: return this.onGoaway(streamId);
      case FrameType.WindowUpdate: return this.onWindowUpdate(streamId, payload);
      case FrameType.Continuation: return this.onContinuation(flags, streamId, payload);
      default: return; // RFC 9113 4.1: unknown frame types are ignored
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'DATA on stream 0');
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'DATA on an idle stream');
    const length = payload.length;
    if (length > this.recvWindow) throw new ConnectionError(ErrorCode.FlowControlError, 'connection window exceeded');
    this.recvWindow -= length;
    this.recvUnacked += length;
    const stream = this.streams.get(streamId);
    if (stream === undefined || stream.remoteClosed) {
      if (stream !== undefined && !stream.localClosed) stream.reset(ErrorCode.StreamClosed);
      return;
    }
    if (length > stream.recvWindow) return stream.reset(ErrorCode.FlowControlError);
    stream.recvWindow -= length;
    const data = (flags & Flag.Padded) !== 0 ? unpad(payload) : payload;
    if (data === undefined) throw new ConnectionError(ErrorCode.ProtocolError, 'bad padding');
    // Padding is not the sink's to consume: credit it at once.
    stream.consumed(length - data.length);
    const end = (flags & Flag.EndStream) !== 0;
    if (end) stream.remoteClosed = true;
    stream.sink?.onData(data, end);
    if (end && stream.closed) this.streamClosed(stream);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'HEADERS on stream 0');
    let p = (flags & Flag.Padded) !== 0 ? unpad(payload) : payload;
    if (p === undefined) throw new ConnectionError(ErrorCode.ProtocolError, 'bad padding');
    if ((flags & Flag.Priority) !== 0) {
      if (p.length < 5) throw new ConnectionError(ErrorCode.FrameSizeError, 'short HEADERS priority');
      if ((p.readUInt32BE(0) & 0x7fffffff) === streamId) throw new ConnectionError(ErrorCode.ProtocolError, 'stream depends on itself');
      p = p.subarray(5);
    }
    this.blockEndStream = (flags & Flag.EndStream) !== 0;
    this.blockBytes = p.length;
    if ((flags & Flag.EndHeaders) !== 0) return this.onHeaderBlock(streamId, p);
    this.blockStreamId = streamId;
    this.blockChunks = [Buffer.from(p)];
    this.checkBlockBytes();
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    if (this.blockStreamId === 0 || streamId !== this.blockStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'unexpected CONTINUATION');
    this.blockBytes += payload.length;
    this.checkBlockBytes();
    this.blockChunks.push(Buffer.from(payload));
    if ((flags & Flag.EndHeaders) === 0) return;
    const block = Buffer.concat(this.blockChunks);
    this.blockChunks = [];
    this.blockStreamId = 0;
    this.onHeaderBlock(streamId, block);
  }

  /** CVE-2024-27316: a header block that never ends must not grow without bound. */
  private checkBlockBytes(): void {
    if (this.blockBytes > limits.h2HeaderBlockBytesMax) throw new ConnectionError(ErrorCode.EnhanceYourCalm, 'header block too large');
  }

  private onHeaderBlock(streamId: number, block: Buffer): void {
    const fields = this.fields;
    fields.length = 0;
    let status: DecodeStatus;
    try {
      status = this.decoder.decode(block, this.options.headerListBytesMax, fields);
    } catch (e) {
      if (e instanceof HpackError) throw new ConnectionError(ErrorCode.CompressionError, e.message);
      throw e;
    }
    const existing = this.streams.get(streamId);
    if (streamId <= this.lastStreamId) return this.onTrailers(streamId, existing, fields);
    if (streamId % 2 === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'even stream id from a client');
    this.lastStreamId = streamId;
    if (this.goawaySent) return; // RFC 9113 6.8: streams after GOAWAY are ignored
    this.openStream(streamId, status, fields);
  }

  private onTrailers(streamId: number, stream: H2Stream | undefined, fields: string[]): void {
    if (stream === undefined || stream.remoteClosed) {
      if (stream === undefined && this.recentlyClosed(streamId)) return;
      throw new ConnectionError(ErrorCode.StreamClosed, 'HEADERS on a closed stream');
    }
    if (!this.blockEndStream) return stream.reset(ErrorCode.ProtocolError);
    stream.remoteClosed = true;
    const sink = stream.sink;
    if (sink?.onTrailers !== undefined) sink.onTrailers(fields.slice());
    else sink?.onData(emptyBuffer, true);
    if (stream.closed) this.streamClosed(stream);
  }

  /** Streams this side reset may still see frames in flight; those are not errors. */
  private recentlyClosed(streamId: number): boolean {
    return streamId <= this.lastStreamId;
  }

  private openStream(streamId: number, status: DecodeStatus, fields: string[]): void {
    const stream = new H2Stream(streamId, this, this.peerInitialWindow);
    this.stats.streamsOpened++;
    // Response bytes stuck behind flow control (a zero-window client) refuse new streams rather than stop reading:
    // the WINDOW_UPDATE that unsticks them must still get through.
    if (this.streams.size >= this.options.streamsMax || this.running >= limits.h2HandlersPerConnectionMax || this.queuedBytes > limits.h2ConnectionQueuedBytesMax) {
      stream.remoteClosed = true;
      return stream.reset(ErrorCode.RefusedStream);
    }
    this.streams.set(streamId, stream);
    if (this.blockEndStream) stream.remoteClosed = true;
    if (status === DecodeStatus.TooLarge) {
      stream.respond([':status', '431'], true);
      return;
    }
    const head = parseHead(fields);
    if (head === undefined) return stream.reset(ErrorCode.ProtocolError);
    this.dispatcher.onStream(stream, head, this.blockEndStream);
  }

  private onPriority(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'PRIORITY on stream 0');
    if (payload.length !== 5) this.streams.get(streamId)?.reset(ErrorCode.FrameSizeError);
  }

  private onRst(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, 'RST_STREAM length');
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'RST_STREAM on an idle stream');
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    this.stats.resetsReceived++;
    this.spendResetToken();
    this.streams.delete(streamId);
    this.blockedStreams.delete(stream);
    stream.abort(payload.readUInt32BE(0));
  }

  /** CVE-2023-44487: a token bucket on client resets of streams still in progress. */
  private spendResetToken(): void {
    const now = this.options.clock.nowMs();
    const refill = ((now - this.resetTokensAtMs) / 1000) * limits.h2ResetsPerSecondMax;
    this.resetTokens = Math.min(limits.h2ResetsBurstMax, this.resetTokens + refill);
    this.resetTokensAtMs = now;
    this.resetTokens -= 1;
    if (this.resetTokens < 0) throw new ConnectionError(ErrorCode.EnhanceYourCalm, 'too many resets');
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'SETTINGS on a stream');
    if ((flags & Flag.Ack) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, 'SETTINGS ack with payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, 'SETTINGS length');
    this.settingsSeen = true;
    for (let i = 0; i < payload.length; i += 6) this.applySetting(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
    this.out.ensure(frameHeaderBytes);
    this.out.header(0, FrameType.Settings, Flag.Ack, 0);
  }

  private applySetting(id: number, value: number): void {
    switch (id) {
      case Setting.HeaderTableSize:
        this.encoder.setPeerTableBytes(value);
        return;
      case Setting.EnablePush:
        if (value > 1) throw new ConnectionError(ErrorCode.ProtocolError, 'ENABLE_PUSH');
        return;
      case Setting.InitialWindowSize:
        if (value > windowBytesMax) throw new ConnectionError(ErrorCode.FlowControlError, 'INITIAL_WINDOW_SIZE');
        this.changeInitialWindow(value);
        return;
      case Setting.MaxFrameSize:
        if (value < frameSizeFloor || value > frameSizeCeiling) throw new ConnectionError(ErrorCode.ProtocolError, 'MAX_FRAME_SIZE');
        this.peerMaxFrameBytes = Math.min(value, limits.h2SendFrameBytesMax);
        return;
      default:
        return; // MAX_CONCURRENT_STREAMS (this side pushes nothing), MAX_HEADER_LIST_SIZE (advisory), unknown ones
    }
  }

  private changeInitialWindow(value: number): void {
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const s of this.streams.values()) {
      s.sendWindow += delta;
      if (s.sendWindow > windowBytesMax) throw new ConnectionError(ErrorCode.FlowControlError, 'stream window overflow');
    }
    if (delta > 0) this.unblock();
  }

  private onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'PING on a stream');
    if (payload.length !== 8) throw new ConnectionError(ErrorCode.FrameSizeError, 'PING length');
    if ((flags & Flag.Ack) !== 0) return;
    this.out.frame(FrameType.Ping, Flag.Ack, 0, payload, 0, 8);
    this.enforceKeepalive();
  }

  /** grpc-go's server rule: pings closer than the policy allows are strikes; the third is too many. */
  private enforceKeepalive(): void {
    const now = this.options.clock.nowMs();
    const last = this.lastPingMs;
    this.lastPingMs = now;
    if (this.resetPingStrikes) {
      this.resetPingStrikes = false;
      this.pingStrikes = 0;
      return;
    }
    const idle = this.streams.size === 0 && !this.options.permitWithoutStream;
    const minMs = idle ? limits.grpcPingWithoutStreamMinTimeMs : this.options.keepaliveMinTimeMs;
    if (last + minMs > now) this.pingStrikes++;
    if (this.pingStrikes > limits.h2PingStrikesMax) throw new ConnectionError(ErrorCode.EnhanceYourCalm, 'too_many_pings');
  }

  private onGoaway(streamId: number): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'GOAWAY on a stream');
    this.shutdown();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, 'WINDOW_UPDATE length');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > windowBytesMax) throw new ConnectionError(ErrorCode.FlowControlError, 'connection window overflow');
      return this.unblock();
    }
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, 'WINDOW_UPDATE on an idle stream');
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) return stream.reset(ErrorCode.ProtocolError);
    stream.sendWindow += increment;
    if (stream.sendWindow > windowBytesMax) return stream.reset(ErrorCode.FlowControlError);
    if (stream.queuedBytes > 0 || this.blockedStreams.has(stream)) {
      this.blockedStreams.delete(stream);
      stream.pump();
    }
  }

  private unblock(): void {
    if (this.blockedStreams.size === 0) return;
    const waiting = [...this.blockedStreams];
    this.blockedStreams.clear();
    for (const s of waiting) {
      if (this.sendWindow <= 0) {
        this.blockedStreams.add(s);
        continue;
      }
      s.pump();
    }
    this.checkQueued();
  }

  // --- writing (called by streams) --------------------------------------

  writeHeaders(streamId: number, fields: readonly string[], endStream: boolean): void {
    const sink = this.hpackSink;
    sink.pos = 0;
    this.encoder.encode(fields, sink);
    const block = sink.buf;
    const n = sink.pos;
    const max = this.peerMaxFrameBytes;
    const end = endStream ? Flag.EndStream : 0;
    if (n <= max) {
      this.out.frame(FrameType.Headers, end | Flag.EndHeaders, streamId, block, 0, n);
    } else {
      this.out.frame(FrameType.Headers, end, streamId, block, 0, max);
      for (let p = max; p < n; p += max) this.out.frame(FrameType.Continuation, p + max >= n ? Flag.EndHeaders : 0, streamId, block, p, Math.min(n, p + max));
    }
    this.sentData();
    this.markDirty();
  }

  writeEmptyEnd(streamId: number): void {
    this.out.ensure(frameHeaderBytes);
    this.out.header(0, FrameType.Data, Flag.EndStream, streamId);
    this.markDirty();
  }

  writeRst(streamId: number, code: ErrorCode): void {
    this.out.u32Frame(FrameType.RstStream, streamId, code);
    this.markDirty();
  }

  writeWindowUpdate(streamId: number, increment: number): void {
    this.out.u32Frame(FrameType.WindowUpdate, streamId, increment);
    this.markDirty();
  }

  /** Headers or data went out: grpc-go resets ping strikes then. */
  sentData(): void {
    this.resetPingStrikes = true;
    this.markDirty();
  }

  /** A stream has data but no window: it is pumped again on WINDOW_UPDATE. */
  blocked(stream: H2Stream): void {
    this.blockedStreams.add(stream);
    this.checkQueued();
  }

  streamClosed(stream: H2Stream): void {
    if (!stream.closed) return;
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.blockedStreams.delete(stream);
    if (this.goawaySent && this.streams.size === 0 && this.running === 0) this.finishShutdown();
  }

  /** A handler finished (its stream may be long gone). */
  handlerDone(): void {
    assert(this.running > 0, 'h2: handler count stays non-negative');
    this.running--;
    if (this.goawaySent && this.streams.size === 0 && this.running === 0) this.finishShutdown();
  }

  private creditConnection(): void {
    // Batched like grpc-go: a WINDOW_UPDATE once a quarter of the window has arrived.
    if (this.recvUnacked < limits.h2ConnectionWindowBytes / 4) return;
    this.out.u32Frame(FrameType.WindowUpdate, 0, this.recvUnacked);
    this.recvWindow += this.recvUnacked;
    this.recvUnacked = 0;
  }

  private sendServerPreface(): void {
    const settings: Array<[Setting, number]> = [
      [Setting.MaxConcurrentStreams, this.options.streamsMax],
      [Setting.InitialWindowSize, limits.h2StreamWindowBytes],
      [Setting.MaxHeaderListSize, this.options.headerListBytesMax],
    ];
    this.out.ensure(frameHeaderBytes + settings.length * 6);
    this.out.header(settings.length * 6, FrameType.Settings, 0, 0);
    for (const [id, value] of settings) {
      this.out.buf.writeUInt16BE(id, this.out.pos);
      this.out.buf.writeUInt32BE(value, this.out.pos + 2);
      this.out.pos += 6;
    }
    const grow = limits.h2ConnectionWindowBytes - defaultWindowBytes;
    this.out.u32Frame(FrameType.WindowUpdate, 0, grow);
    this.recvWindow += grow;
    this.markDirty();
  }

  markDirty(): void {
    if (this.isDirty || this.destroyed) return;
    this.isDirty = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
  }

  /** Writes this turn's frames in one socket write. */
  flush(): void {
    this.isDirty = false;
    if (this.destroyed || this.out.pos === 0) return;
    const bytes = this.out.take();
    this.stats.writes++;
    this.socket.write(bytes);
    this.out.reset(this.socket.writableLength === 0);
    if (this.headTimer !== undefined && this.prefaceSeen) {
      clearTimeout(this.headTimer);
      this.headTimer = undefined;
    }
    if (this.closing && this.streams.size === 0) this.endSocket();
    this.checkQueued();
  }

  // --- back-pressure on reading -----------------------------------------

  /** Replies to a flood pile up within one turn too (several reads may come before the flush). */
  private checkOutput(): void {
    if (this.out.pos + this.socket.writableLength <= limits.h2SocketBufferedBytesMax || this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** A client that does not read what it is sent gets nothing more read either. */
  private checkQueued(): void {
    const over = this.socket.writableLength > limits.h2SocketBufferedBytesMax;
    if (over && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!over && this.paused) {
      this.resume();
    }
  }

  private resume(): void {
    if (!this.paused || this.destroyed) return;
    if (this.socket.writableLength > limits.h2SocketBufferedBytesMax) return;
    this.paused = false;
    this.socket.resume();
    if (this.pending !== undefined) setImmediate(() => this.onRead(emptyBuffer));
  }

  // --- closing -----------------------------------------------------------

  /** Graceful: GOAWAY, no new streams, the in-flight ones finish, then the socket ends. */
  shutdown(): void {
    if (this.goawaySent || this.destroyed) return;
    this.writeGoaway(ErrorCode.NoError, '');
    if (this.streams.size === 0 && this.running === 0) this.finishShutdown();
  }

  private writeGoaway(code: ErrorCode, debug: string): void {
    this.goawaySent = true;
    const d = Buffer.from(debug, 'latin1');
    this.out.ensure(frameHeaderBytes + 8 + d.length);
    this.out.header(8 + d.length, FrameType.Goaway, 0, 0);
    this.out.buf.writeUInt32BE(this.lastStreamId, this.out.pos);
    this.out.buf.writeUInt32BE(code, this.out.pos + 4);
    d.copy(this.out.buf, this.out.pos + 8);
    this.out.pos += 8 + d.length;
    this.markDirty();
  }

  private finishShutdown(): void {
    this.closing = true;
    this.markDirty();
  }

  /** A connection error: GOAWAY with the code, streams aborted, the socket ended after the flush. */
  private fail(code: ErrorCode, debug: string): void {
    if (this.destroyed) return;
    if (!this.goawaySent || code !== ErrorCode.NoError) this.writeGoaway(code, code === ErrorCode.EnhanceYourCalm ? debug : '');
    this.pending = undefined;
    this.abortStreams(code);
    this.closing = true;
  }

  private onEnd(): void {
    // The client half-closed: requests still waiting for their bodies can never complete; the rest finish, then the socket ends.
    for (const s of [...this.streams.values()]) {
      if (s.remoteClosed) continue;
      this.streams.delete(s.id);
      this.blockedStreams.delete(s);
      s.abort(ErrorCode.Cancel);
    }
    this.shutdown();
  }

  private endSocket(): void {
    if (this.destroyed) return;
    this.socket.end();
    // A peer that never closes its side is cut off after the grace time.
    const t = setTimeout(() => this.destroy(), limits.wireShutdownGraceMs);
    t.unref();
  }

  private abortStreams(code: number): void {
    const all = [...this.streams.values()];
    this.streams.clear();
    this.blockedStreams.clear();
    for (const s of all) s.abort(code);
  }

  /** Immediate: drops the socket and every stream. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pending = undefined;
    if (this.headTimer !== undefined) clearTimeout(this.headTimer);
    this.abortStreams(ErrorCode.Cancel);
    this.socket.destroy();
    this.dispatcher.onClose(this);
  }

  /** Reading stopped until the socket drains. */
  get readPaused(): boolean {
    return this.paused;
  }

  get goingAway(): boolean {
    return this.goawaySent;
  }
}

const emptyBuffer = Buffer.alloc(0);

function unpad(payload: Buffer): Buffer | undefined {
  if (payload.length < 1) return undefined;
  const padBytes = payload[0] as number;
  if (padBytes >= payload.length) return undefined;
  return payload.subarray(1, payload.length - padBytes);
}

/** RFC 9113 8.3: pseudo-headers first, each once, the required ones present; lowercase names; no connection-specific fields. */
function parseHead(fields: string[]): RequestHead | undefined {
  const head: RequestHead = { method: '', path: '', scheme: '', authority: '', fields: [] };
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (regular || !setPseudo(head, name, value)) return undefined;
      continue;
    }
    regular = true;
    if (!validName(name) || connectionHeaders.has(name)) return undefined;
    if (name === 'te' && value !== 'trailers') return undefined;
    head.fields.push(name, value);
  }
  if (head.method === '' || head.scheme === '' || head.path === '') return undefined;
  return head;
}

function setPseudo(head: RequestHead, name: string, value: string): boolean {
  switch (name) {
    case ':method':
      if (head.method !== '') return false;
      head.method = value;
      return value !== '';
    case ':path':
      if (head.path !== '') return false;
      head.path = value;
      return value !== '';
    case ':scheme':
      if (head.scheme !== '') return false;
      head.scheme = value;
      return value !== '';
    case ':authority':
      // Any value is accepted: etcdctl 3.4 sends "http://host:port" here.
      if (head.authority !== '') return false;
      head.authority = value;
      return true;
    default:
      return false;
  }
}

function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return false; // uppercase
    if (c <= 32 || c >= 127 || c === 58) return false;
  }
  return true;
}
