// -w table: etcdctl's tablePrinter, for the list-like responses only.
import type * as t from '../../client';
import { goDuration } from '../go-format';
import { renderTable } from '../table';
import {
  UnsupportedPrinter, dbHashKVRow, dbStatusRow, memberRows, statusRows,
  type DbHashKV, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type PrintSink,
} from './printer';

export class TablePrinter extends UnsupportedPrinter {
  constructor(sink: PrintSink) {
    super('table', sink);
  }

  override memberList(r: t.MemberListResponse): void {
    this.raw(renderTable(['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'], memberRows(r)));
  }

  override endpointHealth(list: EpHealth[]): void {
    this.raw(renderTable(['endpoint', 'health', 'took', 'error'], list.map((h) => [h.ep, h.health ? 'true' : 'false', goDuration(h.tookNs), h.error])));
  }

  override endpointStatus(list: EpStatus[]): void {
    const header = ['endpoint', 'ID', 'version', 'db size', 'is leader', 'is learner', 'raft term', 'raft index', 'raft applied index', 'errors'];
    this.raw(renderTable(header, statusRows(list)));
  }

  override endpointHashKV(list: EpHashKV[]): void {
    this.raw(renderTable(['endpoint', 'hash'], list.map((h) => [h.ep, String(h.resp.hash)])));
  }

  override dbStatus(s: DbStatus): void {
    this.raw(renderTable(['hash', 'revision', 'total keys', 'total size'], [dbStatusRow(s)]));
  }

  override dbHashKV(h: DbHashKV): void {
    this.raw(renderTable(['hash', 'hash revision', 'compact revision'], [dbHashKVRow(h)]));
  }
}
