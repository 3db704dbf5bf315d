// Peer messaging between members (etcd's peer port, 2380): a persistent
// stream connection per peer for raft messages, a connection per snapshot,
// a hand-written binary codec, TCP or TLS.
export { Transport } from './transport';
export type { TransportOptions, TransportLimits, TransportLog, PeerStats, TransportStats } from './options';
export { defaultTransportLimits } from './options';
export type { TlsFiles } from './dial';
export { UrlError } from './dial';
export { DecodeError, decodeMessage, encodeMessage, encodeMessageToBuffer, isWireType, messageWireBytes } from './codec';
export { probeClusterId } from './probe';
// For unit tests of the parts (test/ imports a src folder only through its index.ts).
export { FrameReader, frameKind, frameHeaderBytes, writeFrameHeader, encodeHelloAck } from './frame';
