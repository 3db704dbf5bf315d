// Every bound keel enforces, in one place. Names end in their unit.

/** etcd's --max-request-bytes default: 1.5 MiB. */
export const requestBytesDefault = 1.5 * 1024 * 1024;
/** gRPC accepts this much above max-request-bytes so etcd's own error can answer (etcd: grpcOverheadBytes). */
export const grpcOverheadBytes = 512 * 1024;
/** etcd's --max-txn-ops default. */
export const txnOpsDefault = 128;
/** etcd's --quota-backend-bytes default: 2 GiB. */
export const quotaBackendBytesDefault = 2 * 1024 * 1024 * 1024;
/** etcd's hard ceiling for --quota-backend-bytes: 8 GiB. */
export const quotaBackendBytesMax = 8 * 1024 * 1024 * 1024;
/** etcd's MaxLeaseTTL. */
export const leaseTtlSecondsMax = 9_000_000_000;
/** Nesting depth of txn-in-txn accepted before the request is refused as malformed. */
export const txnDepthMax = 64;
/** Write requests applied together in one LevelDB batch (one fsync). */
export const applyBatchRequestsMax = 1024;
/**
 * Entries a member applies in memory before it waits for the store's backend write to catch up
 * (the write runs in the background; --backend-batch-limit is capped by it).
 */
export const storeUncommittedEntriesMax = 10_000;
/** etcd's --backend-batch-interval default (100 ms) and --backend-batch-limit default (10,000). */
export const backendBatchIntervalMsDefault = 100;
export const backendBatchLimitDefault = 10_000;
/** Event-loop turns or commits a wait for the store's backend may take (a bug, not load, exceeds it). */
export const storeCommitWaitTurnsMax = 100_000;
/** Write requests waiting for the apply loop; beyond this, new writes are refused as "too many requests". */
export const applyQueueRequestsMax = 10_000;
/** Keys fetched from LevelDB per getMany call when reading history. */
export const historyReadChunkKeysMax = 1024;
/** Bytes of live kvs the MVCC store keeps in memory (a two-generation LRU of keys written or read lately); other values are read from LevelDB. */
export const mvccValueCacheBytesMax = 64 * 1024 * 1024;
/** Bytes of a LevelDB write batch before it is split. */
export const backendBatchBytesMax = 64 * 1024 * 1024;
/** Revisions deleted from the backend per compaction batch (etcd's --experimental-compaction-batch-limit default). */
export const compactionBatchKeysMax = 1000;
/** Revisions one apply batch may publish to watchers (an apply batch is bounded by raft's committed bytes per Ready). */
export const mvccBatchRevisionsMax = 1_000_000;
/** onEvents listeners on one MVCC store (the watchable store, the lessor, tests). */
export const mvccEventListenersMax = 16;
/** Leases one member holds (etcd has no limit; this bounds memory at ~100 B each). */
export const leasesMax = 10_000_000;
/** Keepalives of expired leases waiting for the revoke at once (each answers once the lease is gone). */
export const leaseRevokeWaitersMax = 100_000;
/** Expired leases handed out for revocation per expiry pass (etcd: leaseRevokeRate 1000/s at 500 ms passes). */
export const leaseRevokesPerPassMax = 500;

// --- raft (src/raft) ---
/** Members (voters and learners) one raft group may hold. */
export const raftMembersMax = 128;
/** Messages a raft node queues for its next Ready; beyond this it drops new ones (Raft tolerates loss). */
export const raftMessagesPerReadyMax = 65_536;
/** Entries a raft node holds unpersisted; reaching it means the application stopped taking Readies. */
export const raftUnstableEntriesMax = 4_194_304;
/** Entries in one proposal batch. */
export const raftProposalEntriesMax = 65_536;
/** Configuration-change entries above the applied index that a raft node tracks. */
export const raftPendingConfChangesMax = 4096;
/** ReadIndex requests pending at a leader (awaiting a heartbeat quorum) or at a requester (awaiting an answer). */
export const raftReadIndexPendingMax = 65_536;
/** Requester-side ReadIndex requests expire after this many election timeouts without an answer. */
export const raftReadIndexTimeoutElections = 4;
/** Heartbeat rounds a leader remembers the send tick of, for its read lease. */
export const raftHeartbeatRoundsMax = 4096;
/** Upper bound of the maxInflightMsgs setting. */
export const raftInflightMsgsMax = 65_536;
/** Entries in MemoryStorage before it asserts that the application forgot to compact. */
export const raftMemoryStorageEntriesMax = 16_777_216;
/** Default bytes of entries in one MsgApp (etcd's MaxSizePerMsg). */
export const raftMessageBytesDefault = 1024 * 1024;
/** Default MsgApp messages in flight to one follower (etcd server: 512). */
export const raftInflightMsgsDefault = 512;
/** Default bytes of entries in flight to one follower. */
export const raftInflightBytesDefault = 64 * 1024 * 1024;
/** Default bytes of committed entries handed out in one Ready. */
export const raftCommittedBytesPerReadyDefault = 16 * 1024 * 1024;
/** Default bytes of uncommitted entries a leader accepts before dropping proposals. */
export const raftUncommittedBytesDefault = 256 * 1024 * 1024;
/** Accounting overhead added to every entry's data length when sizing messages and batches. */
export const raftEntryOverheadBytes = 16;
/** Watch streams open at once on one member. */
export const watchStreamsMax = 100_000;
/** Watchers on one member, all streams together. */
export const watchersMax = 1_000_000;
/** Events read from history per catch-up round (whole revisions: a round may exceed it by one revision). */
export const watchSyncEventsMax = 1000;
/** Catch-up rounds before the sync loop yields to the event loop. */
export const watchSyncRoundsMax = 16;
/** A catch-up watch response is cut (between revisions) once its events pass this many bytes. */
export const watchResponseBytesSoftMax = 1024 * 1024;
/**
 * Response bytes one watch stream may hold unsent (queued in keel or in its
 * HTTP/2 stream); past it the stream's watchers fall back to catching up from
 * storage until it drains (etcd: 128 responses per stream).
 */
export const watchStreamBufferBytesMax = 1024 * 1024;

// --- transport (src/transport) ---
/** Peers one transport sends to (every other member of the group). */
export const transportPeersMax = 128;
/** URLs one transport listens on, or one peer is reached at. */
export const transportUrlsMax = 16;
/** Messages queued for one peer; beyond this new ones are dropped and the peer reported unreachable (etcd's streamBufSize). */
export const transportPeerQueueMsgsMax = 4096;
/** Encoded bytes queued for one peer; same drop rule as transportPeerQueueMsgsMax. */
export const transportPeerQueueBytesMax = 32 * 1024 * 1024;
/** Unsent bytes a peer socket may hold before queued messages stop moving into it. */
export const transportSocketBufferBytesMax = 4 * 1024 * 1024;
/** Bytes of frames coalesced into one socket write (a single larger message goes alone). */
export const transportWriteBatchBytesMax = 1024 * 1024;
/** Largest frame sent or accepted: one encoded message (MsgApp is bounded by raft's maxSizePerMsg) or one snapshot chunk. */
export const transportFrameBytesMax = 64 * 1024 * 1024;
/** Largest frame read from a connection that has not completed its handshake. */
export const transportHandshakeFrameBytesMax = 256;
/** Bytes of snapshot data per chunk frame. */
export const transportSnapshotChunkBytes = 256 * 1024;
/** Largest snapshot accepted: Node 20's largest Buffer (the data reaches raft as one Uint8Array). */
export const transportSnapshotBytesMax = 4 * 1024 * 1024 * 1024;
/** Snapshots being received at once; more are refused (raft retries after its snapshot failure). */
export const transportSnapshotReceivesMax = 2;
/** Snapshots being sent to one peer at once (raft sends one at a time). */
export const transportSnapshotSendsPerPeerMax = 1;
/** Inbound peer connections held at once; more are closed on accept. */
export const transportInboundConnectionsMax = 1024;
/** Time to connect and complete the handshake, either side (etcd's peer dial timeout is 1 s; TLS on a busy host needs more). */
export const transportHandshakeTimeoutMs = 5000;
/** First reconnect delay after a failure; doubles per failure, jittered down by up to half. */
export const transportBackoffInitialMs = 100;
/** Ceiling of the reconnect delay. */
export const transportBackoffMaxMs = 5000;
/** A connection whose unsent bytes make no progress this long is dropped (etcd's ConnWriteTimeout). */
export const transportWriteStallMs = 5000;
/** Period of the write-stall check. */
export const transportStallCheckIntervalMs = 1000;
/** Time a snapshot sender waits for the receiver's answer after its last byte. */
export const transportSnapshotAckTimeoutMs = 30_000;
/** TCP keepalive idle time on peer sockets, so a vanished peer's connection is eventually noticed. */
export const transportKeepAliveMs = 30_000;
/** Warning lines of one kind (per peer) the transport logs per interval; the rest are counted, not logged. */
export const transportWarnIntervalMs = 5000;
/** Distinct warning keys remembered for rate limiting. */
export const transportWarnKeysMax = 256;
/** Keys of the MVCC key index compacted per event-loop turn, so a compaction never stalls requests for long. */
export const compactionIndexKeysPerTurnMax = 10_000;
/** Messages this far past etcd's gRPC receive limit are refused by grpc-js itself (its wording); below it keel answers in etcd's words. */
export const grpcReceiveSlackBytes = 64 * 1024 * 1024;

// --- storage: raft log (src/storage/raft-storage.ts) and snapshot files (src/storage/snapshot-file.ts) ---
/** Entries etcd keeps behind a snapshot so slow followers catch up from the log (--experimental-snapshot-catchup-entries). */
export const raftSnapshotCatchUpEntriesDefault = 5000;
/** Bytes of raft snapshot data per LevelDB value in the raft log (the data is split, not stored as one huge value). */
export const raftLogSnapshotChunkBytes = 1024 * 1024;
/** Bytes per chunk of a streamed backend snapshot (keel's snapshot file format). */
export const snapshotFileChunkBytes = 1024 * 1024;
/** Largest key accepted while reading a snapshot file (a bigger length means a corrupt file). */
export const snapshotFileKeyBytesMax = 64 * 1024 * 1024;
/** Largest value accepted while reading a snapshot file (a bigger length means a corrupt file). */
export const snapshotFileValueBytesMax = 512 * 1024 * 1024;
/** Bytes of keys and values per backend write batch while restoring a snapshot. */
export const snapshotRestoreBatchBytes = 4 * 1024 * 1024;
/** Keys per backend write batch while restoring a snapshot. */
export const snapshotRestoreBatchKeysMax = 10_000;
/** Keepalives a follower has forwarded to the leader and not yet seen answered. */
export const forwardedKeepAlivesMax = 10_000;
/** Raft log writes (save / createSnapshotAndCompact) queued behind the one in progress; the server awaits each Ready's, so a few at most. */
export const raftLogPendingWritesMax = 1024;
/** (time, revision) samples the periodic auto-compactor keeps. */
export const autoCompactionSamplesMax = 100_000;

// --- raft WAL (src/wal) ---
/** Size a WAL segment file is preallocated to (etcd's SegmentSizeBytes); a batch larger than a segment gets a segment of its own. */
export const walSegmentBytes = 64 * 1024 * 1024;
/** Bytes of recent entries the WAL keeps in memory; older entries are read back from the segment files on demand. */
export const walEntryCacheBytesMax = 64 * 1024 * 1024;
/** Largest frame (one save) written or accepted when reading; a larger length read from disk means a corrupt file. */
export const walFrameBytesMax = 1024 * 1024 * 1024;
/** Segment files one WAL holds (each stays open for reads); compaction releases them. */
export const walSegmentsMax = 65_536;
/** Bytes of zeros written per call while preallocating a segment. */
export const walZeroChunkBytes = 1024 * 1024;
/** Bytes read from a segment per call when serving entries from disk. */
export const walReadChunkBytesMax = 16 * 1024 * 1024;
/** Entries copied per batch when migrating a LevelDB raft log into a WAL. */
export const walMigrateBatchEntriesMax = 10_000;
/** Handlers (open WALs) a power-loss failpoint truncates before it kills the process. */
export const failpointPowerLossHandlersMax = 64;

// --- jepsen checkers and report (jepsen/checker, jepsen/report) ---
/** Search configurations (linearized set, register state) the linearizability checker remembers per key before it answers 'unknown'. */
export const jepsenLinearizableCacheEntriesDefault = 2_000_000;
/** Wall time a checker may spend on one history before it answers 'unknown'. */
export const jepsenCheckTimeLimitMsDefault = 60_000;
/** Search steps between two looks at the clock (time limits are checked this often). */
export const jepsenClockCheckSteps = 1024;
/** Operations one history may hold (the checkers index them with 32-bit arrays). */
export const jepsenHistoryOpsMax = 20_000_000;
/** Anomalies one checker reports; further ones are counted, not listed. */
export const jepsenAnomaliesMax = 100;
/** Operations named in one anomaly (the offending op, those concurrent with it, the prefix that led to it). */
export const jepsenAnomalyOpsMax = 24;
/** Register values listed as "the register could hold" in a nonlinearizable verdict. */
export const jepsenPossibleStatesMax = 8;
/** rw edges of one strongly connected component tried as the single rw edge of a G-single cycle. */
export const jepsenCycleRwEdgesMax = 20_000;
/** Timelines (one per anomaly) drawn in report.html. */
export const jepsenReportTimelinesMax = 8;
/** Operations drawn in one timeline of report.html (those nearest the anomaly). */
export const jepsenReportTimelineOpsMax = 300;
/** Process lanes drawn in one timeline of report.html. */
export const jepsenReportLanesMax = 40;

// --- bbolt files (src/storage/bbolt): etcd's db and snapshot format ---
/** Levels of one bbolt B+tree, and of buckets nested in buckets, read or written (etcd's trees are 3-5 deep). */
export const bboltTreeDepthMax = 64;
/** Overflow pages one bbolt page may carry (4 GiB at 4 KiB pages; etcd's largest value is its request limit). */
export const bboltOverflowPagesMax = 1 << 20;
/** Pages of a bbolt file keel writes (64 GiB at 4 KiB pages: past etcd's 8 GiB quota ceiling). */
export const bboltPagesMax = 1 << 24;
/** Problems one bbolt check reports before it stops listing them. */
export const bboltCheckProblemsMax = 1000;
/** Distinct keys changed after the compact revision that one HashKV tracks (etcd's keep set is as large as the live keys). */
export const hashKvKeysMax = 50_000_000;
/** Top-level buckets of a bbolt file keel writes (etcd has ten). */
export const bboltRootBucketsMax = 1024;
/** Non-revision entries (meta: leases, members, alarms, …) held in memory while converting a store to an etcd snapshot. */
export const etcdSnapshotMetaEntriesMax = 20_000_000;

// --- wire: the client-port server (src/wire) ---
/** Largest HTTP/2 frame payload keel accepts (its SETTINGS_MAX_FRAME_SIZE; RFC 9113's default, as grpc-go's). */
export const h2FrameBytesMax = 16_384;
/** Largest payload keel sends in one frame, whatever larger size the peer allows. */
export const h2SendFrameBytesMax = 16_384;
/** Encoded bytes of one header block (HEADERS + CONTINUATION); more is a CONTINUATION flood (CVE-2024-27316). */
export const h2HeaderBlockBytesMax = 64 * 1024;
/** Decoded size of one header list (RFC 9113: name + value + 32 per field); bounds HPACK bombs. Advertised as SETTINGS_MAX_HEADER_LIST_SIZE. */
export const h2HeaderListBytesMax = 64 * 1024;
/** HPACK dynamic table of the decoder (advertised SETTINGS_HEADER_TABLE_SIZE) and largest one keel's encoder keeps. */
export const h2HeaderTableBytesMax = 4096;
/** Streams one connection may have open (advertised SETTINGS_MAX_CONCURRENT_STREAMS). */
export const h2StreamsPerConnectionMax = 1000;
/** Handlers one connection may have running, including those of streams the client already reset (rapid reset). */
export const h2HandlersPerConnectionMax = 2000;
/** Receive window keel gives each stream (SETTINGS_INITIAL_WINDOW_SIZE). */
export const h2StreamWindowBytes = 1024 * 1024;
/** Receive window keel gives each connection. */
export const h2ConnectionWindowBytes = 16 * 1024 * 1024;
/** Streams a client may reset in a burst before the connection is closed (CVE-2023-44487)... */
export const h2ResetsBurstMax = 1000;
/** ...and the rate at which that allowance refills. */
export const h2ResetsPerSecondMax = 200;
/** Unsent bytes the socket may hold before keel stops reading from it (SETTINGS/PING floods, slow readers). */
export const h2SocketBufferedBytesMax = 4 * 1024 * 1024;
/** Response bytes of one connection waiting for flow-control window; past it new streams are refused (zero-window stalls). */
export const h2ConnectionQueuedBytesMax = 16 * 1024 * 1024;
/** Response bytes one stream may queue before its writer is told to wait (backpressure by bytes). */
export const h2StreamQueuedBytesMax = 1024 * 1024;
/** Pings that break the keepalive policy before GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (grpc-go's maxPingStrikes). */
export const h2PingStrikesMax = 2;
/** etcd's --grpc-keepalive-min-time default. */
export const grpcKeepaliveMinTimeMsDefault = 5000;
/** grpc-go's interval for pings on a connection without streams when they are not permitted (2 hours). */
export const grpcPingWithoutStreamMinTimeMs = 2 * 60 * 60 * 1000;
/** Largest gRPC message a method receives unless its service says otherwise (grpc-go's default, 4 MiB). */
export const grpcReceiveMessageBytesDefault = 4 * 1024 * 1024;
/** Messages queued for a streaming handler that has not read them yet (their bytes are bounded by the stream window). */
export const grpcReceiveQueueMessagesMax = 65_536;
/** Bytes a connection coalesces into one socket write before writing early. */
export const wireWriteBatchBytesMax = 256 * 1024;
/** Size of the output buffer a connection keeps between turns (a larger one is dropped after use). */
export const wireOutputPoolBytes = 64 * 1024;
/** Output buffers (of wireOutputPoolBytes) kept for reuse across all connections. */
export const wireOutputPoolBuffersMax = 64;
/** Connections one server holds at once; more are closed on accept. */
export const wireConnectionsMax = 65_536;
/** TCP keepalive idle time on client connections (Go's listener default, which etcd has). */
export const wireTcpKeepAliveMs = 15_000;
/** Time a new connection has to send its HTTP/2 preface or its first HTTP/1.1 request head (slowloris). */
export const wireHeadTimeoutMs = 10_000;
/** Time shutdown waits for in-flight streams after GOAWAY before closing connections. */
export const wireShutdownGraceMs = 10_000;
/** Time a kept-alive HTTP/1.1 connection may sit idle between requests. */
export const http1IdleTimeoutMs = 120_000;
/** Bytes of an HTTP/1.1 request line and headers. */
export const http1HeadBytesMax = 64 * 1024;
/** Header lines of one HTTP/1.1 request. */
export const http1HeaderLinesMax = 256;
/** Bytes of an HTTP/1.1 request body (the JSON gateway's requests are etcd requests: 1.5 MiB + overhead). */
export const http1BodyBytesMax = 2 * 1024 * 1024;
/** Bytes of an HTTP request body arriving over HTTP/2 (same bound as over HTTP/1.1). */
export const httpBodyBytesMax = http1BodyBytesMax;
