// What the member shows the layers around it (api/, cmd/) and what they hand it.
import { monotonicClock, realTimers, systemWallClock, type Clock, type Timers, type WallClock } from '../util';
import type { Message } from '../raft';
import type { ApplierTestMutation } from './applier';

/** The etcd version keel reports: kube-apiserver enables watch progress features from 3.5.13 on. */
export const etcdVersion = '3.5.16';
export const clusterVersion = '3.5.0';

export interface MemberStatus {
  version: string;
  dbSize: number;
  dbSizeInUse: number;
  leader: bigint;
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  errors: string[];
  isLearner: boolean;
  revision: number;
}

/** Peer messaging, provided by the transport (cmd wires it; server does not import transport/). */
export interface PeerNetwork {
  send(messages: readonly Message[]): void;
  addPeer(id: bigint, urls: string[]): void;
  removePeer(id: bigint): void;
}

/** Time and randomness from outside (tests and the simulation pass their own). */
export interface MemberEnvironment {
  clock: Clock;
  timers: Timers;
  wallClock: WallClock;
  testMutation?: ApplierTestMutation;
}

export const realEnvironment: MemberEnvironment = { clock: monotonicClock, timers: realTimers, wallClock: systemWallClock };

