// The OfflineTools, loaded on first use: keelctl's network commands then
// start without loading the server, raft and LevelDB modules.
import type { OfflineTools } from '../src/cli';

export function lazyOfflineTools(): OfflineTools {
  let loaded: Promise<OfflineTools> | undefined;
  const tools = (): Promise<OfflineTools> => (loaded ??= import('./offline-tools').then((m) => m.offlineTools));
  return {
    snapshotStatus: async (file) => (await tools()).snapshotStatus(file),
    snapshotRestore: async (file, dataDir) => (await tools()).snapshotRestore(file, dataDir),
    bootstrapIds: async (members, token) => (await tools()).bootstrapIds(members, token),
    defragment: async (dataDir) => (await tools()).defragment(dataDir),
    hashKv: async (dataDir, revision) => (await tools()).hashKv(dataDir, revision),
  };
}
