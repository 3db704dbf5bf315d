// The Watch service: one grpc bidi stream per WatchStream of the hub.
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type { Member } from '../server';
import { etcdService } from '../proto';
import type { WatchOutput } from '../mvcc';
import { requiresLeader } from './rpc';
import { toServiceError } from './errors';
import { EtcdError, limits } from '../util';
import { FrameBuffer, HeaderCache, appendResponses, decodeWatchRequest, messagesOf, type WatchRequestMessage } from './watch-wire';

const smallestKey = Buffer.from([0]);

/** The Watch service definition: requests decoded and responses encoded by watch-wire (the serializer passes its bytes through). */
export function watchServiceDefinition(): grpc.ServiceDefinition {
  const def = etcdService('Watch').service;
  const method = def['Watch'] as grpc.MethodDefinition<unknown, unknown>;
  const serialize = method.responseSerialize;
  return {
    Watch: { ...method, requestDeserialize: decodeWatchRequest, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)) },
  };
}

type Http2Stream = http2.ServerHttp2Stream;

/**
 * The HTTP/2 stream under a grpc-js call, when grpc-js has the shape this
 * was written against (1.x, no server interceptors); undefined otherwise.
 */
function http2StreamOf(call: grpc.ServerDuplexStream<unknown, unknown>): Http2Stream | undefined {
  const inner = (call as unknown as { call?: { stream?: unknown } }).call?.stream as Partial<Http2Stream> | undefined;
  if (inner === undefined || inner === null) return undefined;
  const looksRight = typeof inner.write === 'function' && typeof inner.respond === 'function'
    && typeof inner.sendTrailers === 'function' && typeof inner.writableLength === 'number';
  return looksRight ? (inner as Http2Stream) : undefined;
}

/**
 * One stream's outgoing responses. Everything queued in one event-loop turn
 * (every revision of an apply batch, every watcher of a put) is encoded into
 * one buffer and leaves as one write to the HTTP/2 stream: grpc-js still sends
 * the headers and the status, but its per-message write chain, which costs
 * more than the encoding, is skipped for the data. When the stream does not
 * look as expected, each message goes through grpc-js instead (serialized as
 * is by watchServiceDefinition).
 */
class ResponseWriter {
  private readonly frames = new FrameBuffer();
  private flushScheduled = false;
  private headersSent = false;
  private readonly flushNow = (): void => this.flush();

  constructor(private readonly call: grpc.ServerDuplexStream<unknown, unknown>, private readonly h2: Http2Stream | undefined) {}

  write(header: Buffer, out: WatchOutput, maxBytes: number): void {
    appendResponses(this.frames, header, out, maxBytes);
    if (this.h2 === undefined) {
      for (const chunk of this.frames.take() ?? []) for (const message of messagesOf(chunk)) this.call.write(message);
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  /** Whether the stream can take more: false past its bound (then 'drain' follows). */
  hasRoom(): boolean {
    if (this.h2 === undefined) return this.call.writableLength < this.call.writableHighWaterMark;
    return this.frames.length + this.h2.writableLength <= limits.watchStreamBufferBytesMax;
  }

  onDrain(f: () => void): void {
    (this.h2 ?? this.call).on('drain', f);
  }

  private flush(): void {
    this.flushScheduled = false;
    const h2 = this.h2 as Http2Stream;
    const chunks = this.frames.take();
    // The call is over (canceled, reset, ended): nothing more may be written.
    if (chunks === undefined || h2.destroyed || h2.closed || h2.writableEnded || this.call.cancelled) return;
    try {
      if (!this.headersSent) {
        this.headersSent = true;
        this.call.sendMetadata(new grpc.Metadata());
      }
      // Corked, several chunks leave in one writev.
      h2.cork();
      try {
        for (const chunk of chunks) h2.write(chunk);
      } finally {
        h2.uncork();
      }
    } catch {
      // The stream failed under us; its 'close' cleans up.
    }
  }
}

export function watchHandlers(member: Member, progressNotifyIntervalMs: number): grpc.UntypedServiceImplementation {
  member.startProgressNotify(progressNotifyIntervalMs);
  // Every stream's responses of one revision carry the same header.
  const headers = new HeaderCache();
  return {
    Watch: (call: grpc.ServerDuplexStream<WatchRequestMessage, unknown>) => {
      if (requiresLeader(call.metadata) && !member.hasLeader()) {
        call.emit('error', toServiceError(new EtcdError('NoLeader')));
        return;
      }
      const h2 = http2StreamOf(call);
      // grpc-js handles one 'error' on the HTTP/2 stream; a reset can raise more, and close cleans up.
      h2?.on('error', () => undefined);
      const writer = new ResponseWriter(call, h2);
      let stream: ReturnType<Member['newWatchStream']>;
      try {
        stream = member.newWatchStream({
          write: (out) => {
            writer.write(headers.field(member, out.revision), out, member.config.maxRequestBytes);
            return writer.hasRoom();
          },
        });
      } catch (e) {
        call.emit('error', e);
        return;
      }
      writer.onDrain(() => stream.resume());
      call.on('data', (req: WatchRequestMessage) => {
        switch (req.kind) {
          case 'create':
            // etcd: an empty key is the smallest key, "\0". A negative start is kept: it replays all history, or is canceled as compacted.
            if (req.create.key.length === 0) req.create.key = smallestKey;
            stream.watch(req.create);
            break;
          case 'cancel':
            stream.cancel(req.watchId);
            break;
          case 'progress':
            stream.requestProgress();
            break;
          default:
            break;
        }
      });
      const close = (): void => stream.close();
      // A client that half-closes still gets its events (as from etcd): the stream ends only when it cancels.
      call.on('end', () => undefined);
      call.on('cancelled', close);
      call.on('close', close);
      call.on('error', close);
    },
  };
}
