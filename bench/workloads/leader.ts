// --target-leader: ask every endpoint for Maintenance.Status and keep the one
// that says it leads (header.member_id == leader), as etcd's benchmark does.
import { call, connect, errorText, method } from './common';

const statusTimeoutMs = 3_000;

interface StatusResponse { header?: { member_id?: string } | null; leader?: string }

export async function leaderEndpoint(endpoints: string[]): Promise<string> {
  const status = method('Maintenance', 'Status');
  const seen: string[] = [];
  const answers = await Promise.all(endpoints.map(async (endpoint) => {
    const conn = connect(endpoint);
    try {
      const r = await call<StatusResponse>(conn, status, {}, new Date(Date.now() + statusTimeoutMs));
      const member = String(r.header?.member_id ?? '');
      const leader = String(r.leader ?? '');
      seen.push(`${endpoint}: member ${member}, leader ${leader}`);
      return member !== '' && member !== '0' && member === leader ? endpoint : undefined;
    } catch (e) {
      seen.push(`${endpoint}: ${errorText(e)}`);
      return undefined;
    } finally {
      conn.close();
    }
  }));
  const leader = answers.find((a) => a !== undefined);
  if (leader === undefined) throw new Error(`--target-leader: no endpoint is the leader (${seen.join('; ')})`);
  return leader;
}
