// The cluster's alarms (etcd's alarm store): raised and disarmed through raft,
// kept in the store's meta, listed by Maintenance.Alarm and Status.
import type { MvccStore } from '../mvcc';
import type { MetaWrite } from './backend-commit';

export const enum AlarmType { None = 0, NoSpace = 1, Corrupt = 2 }
export const enum AlarmAction { Get = 0, Activate = 1, Deactivate = 2 }
export interface AlarmMember { memberId: bigint; alarm: AlarmType }

const alarmNames = ['NONE', 'NOSPACE', 'CORRUPT'];
export const alarmMetaPrefix = 'alarm/';

function alarmName(memberId: bigint, alarm: AlarmType): string {
  return `${memberId.toString(16)}/${alarm}`;
}

/** The meta record of an active alarm: its name and value. */
export function alarmRecord(a: AlarmMember): [string, Buffer] {
  return [alarmMetaPrefix + alarmName(a.memberId, a.alarm), Buffer.from(JSON.stringify({ memberId: a.memberId.toString(), alarm: a.alarm }))];
}

export function decodeAlarmRecord(v: Buffer): AlarmMember {
  const o = JSON.parse(v.toString('utf8')) as { memberId: string; alarm: AlarmType };
  return { memberId: BigInt(o.memberId), alarm: o.alarm };
}

export class Alarms {
  private readonly active = new Map<string, AlarmMember>();

  static async load(store: MvccStore): Promise<Alarms> {
    const alarms = new Alarms();
    for (const [, v] of await store.metaEntries(alarmMetaPrefix)) {
      const a = decodeAlarmRecord(v);
      alarms.active.set(alarmName(a.memberId, a.alarm), a);
    }
    return alarms;
  }

  list(): AlarmMember[] {
    return [...this.active.values()];
  }

  has(alarm: AlarmType): boolean {
    for (const a of this.active.values()) if (a.alarm === alarm) return true;
    return false;
  }

  /** Status's errors field, as etcd words it. */
  errors(): string[] {
    return this.list().map((a) => `memberID:${a.memberId.toString()} alarm:${alarmNames[a.alarm]} `);
  }

  /** Applies an Activate or Deactivate; answers the alarms it touched and stages their meta writes. */
  apply(action: AlarmAction, memberId: bigint, alarm: AlarmType, meta: MetaWrite): AlarmMember[] {
    const name = alarmName(memberId, alarm);
    if (action === AlarmAction.Activate) {
      if (alarm === AlarmType.None) return [];
      const a: AlarmMember = { memberId, alarm };
      this.active.set(name, a);
      meta(...alarmRecord(a));
      return [a];
    }
    const existing = this.active.get(name);
    if (existing === undefined) return [];
    this.active.delete(name);
    meta(alarmMetaPrefix + name, undefined);
    return [existing];
  }
}
