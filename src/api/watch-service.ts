// The Watch service: one grpc bidi stream per WatchStream of the hub.
import type * as grpc from '@grpc/grpc-js';
import type { Member } from '../server';
import { etcdService } from '../proto';
import { EventType, type WatchOutput, type WatchFilter, type Event } from '../mvcc';
import { int64ToNumber, kvToPb, type PbHeader } from './convert';
import { headerOf } from './kv-service';
import { requiresLeader } from './grpc-server';
import { toServiceError } from './errors';
import { EtcdError } from '../util';

interface PbWatchCreateRequest {
  key: Buffer; range_end: Buffer; start_revision: string; progress_notify: boolean;
  filters: number[]; prev_kv: boolean; watch_id: string; fragment: boolean;
}
interface PbWatchRequest {
  request_union?: 'create_request' | 'cancel_request' | 'progress_request';
  create_request?: PbWatchCreateRequest;
  cancel_request?: { watch_id: string };
}

function eventToPb(ev: Event): object {
  const out: Record<string, unknown> = { type: ev.type === EventType.Put ? 0 : 1, kv: kvToPb(ev.kv) };
  if (ev.prevKv !== undefined) out['prev_kv'] = kvToPb(ev.prevKv);
  return out;
}

function responseToPb(header: PbHeader, out: WatchOutput, events: Event[], fragment: boolean): object {
  const r: Record<string, unknown> = { header, watch_id: out.watchId, events: events.map(eventToPb) };
  if (out.created === true) r['created'] = true;
  if (out.canceled === true) r['canceled'] = true;
  if (out.compactRevision !== undefined) r['compact_revision'] = out.compactRevision;
  if (out.cancelReason !== undefined) r['cancel_reason'] = out.cancelReason;
  if (fragment) r['fragment'] = true;
  return r;
}

const encodeResponse = etcdService('Watch').service['Watch']?.responseSerialize;

/** etcd's sendFragments: split a large response between events, each part under the request size limit. */
function fragments(header: PbHeader, out: WatchOutput, maxBytes: number): object[] {
  const whole = responseToPb(header, out, out.events, false);
  if (out.fragment !== true || out.events.length < 2 || encodeResponse === undefined) return [whole];
  if (encodeResponse(whole).length < maxBytes) return [whole];
  const parts: object[] = [];
  let idx = 0;
  while (idx < out.events.length) {
    const cur: Event[] = [];
    while (idx < out.events.length) {
      cur.push(out.events[idx] as Event);
      if (cur.length > 1 && encodeResponse(responseToPb(header, out, cur, true)).length >= maxBytes) {
        cur.pop();
        break;
      }
      idx++;
    }
    parts.push(responseToPb(header, out, cur, idx < out.events.length));
  }
  return parts;
}

export function watchHandlers(member: Member, progressNotifyIntervalMs: number): grpc.UntypedServiceImplementation {
  member.startProgressNotify(progressNotifyIntervalMs);
  return {
    Watch: (call: grpc.ServerDuplexStream<PbWatchRequest, unknown>) => {
      if (requiresLeader(call.metadata) && !member.hasLeader()) {
        call.emit('error', toServiceError(new EtcdError('NoLeader')));
        return;
      }
      let stream: ReturnType<Member['newWatchStream']>;
      try {
        stream = member.newWatchStream({
          write: (out) => {
            let ok = true;
            for (const part of fragments(headerOf(member, out.revision), out, member.config.maxRequestBytes)) ok = call.write(part) && ok;
            return ok;
          },
        });
      } catch (e) {
        call.emit('error', e);
        return;
      }
      call.on('drain', () => stream.resume());
      call.on('data', (req: PbWatchRequest) => {
        switch (req.request_union) {
          case 'create_request': {
            const c = req.create_request as PbWatchCreateRequest;
            stream.watch({
              watchId: int64ToNumber(c.watch_id),
              // etcd: an empty key is the smallest key, "\0".
              key: c.key.length === 0 ? Buffer.from([0]) : c.key,
              rangeEnd: c.range_end ?? Buffer.alloc(0),
              // etcd keeps a negative start: it replays all history, or is canceled as compacted.
              startRevision: int64ToNumber(c.start_revision),
              filters: (c.filters ?? []) as WatchFilter[],
              prevKv: c.prev_kv === true,
              progressNotify: c.progress_notify === true,
              fragment: c.fragment === true,
            });
            break;
          }
          case 'cancel_request':
            stream.cancel(int64ToNumber(req.cancel_request?.watch_id));
            break;
          case 'progress_request':
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
