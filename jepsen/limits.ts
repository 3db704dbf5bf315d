// Every bound the jepsen harness keeps, in one place (src/util/limits.ts holds
// the server's; the harness is not part of the server's layers).

/** Operations a run may record before its generators stop (a history beyond this is too long to check anyway). */
export const historyOpsMax = 2_000_000;
/** Members a run may start over its lifetime, replacements included. */
export const membersMax = 16;
/** Client workers per workload. */
export const concurrencyMax = 256;
/** A run's time limit. */
export const timeLimitSecondsMax = 24 * 3600;
/** Operations one register key sees before the workload moves on to a fresh key (keeps per-key checking cheap). */
export const registerOpsPerKeyMax = 300;
/** Micro-ops in one list-append transaction. */
export const appendTxnOpsMax = 4;
/** Appends one list-append key receives before a fresh key replaces it. */
export const appendsPerKeyMax = 200;
/** Events one watch session records before it closes and resumes in a new session. */
export const watchSessionEventsMax = 20_000;
/** Deliveries (responses) one watch session records. */
export const watchSessionDeliveriesMax = 20_000;
/** Keys one lease carries. */
export const leaseKeysMax = 4;
/** Pages one kubernetes list reads. */
export const kubeListPagesMax = 1000;
/** Fault windows in one schedule. */
export const nemesisWindowsMax = 10_000;
/** Unexpected member exits the runner restarts, per member, before it gives up on the member. */
export const crashRestartsMax = 5;
/** Bytes of a member's output kept in memory for the summary (all of it goes to its log file). */
export const memberLogTailBytes = 64 * 1024;
/** Attempts (each bounded by a timeout) to see the healed cluster converge before the final reads. */
export const convergeAttemptsMax = 120;
/** Distinct network numbers (10.77.N.0/24) runs on one machine may use at once. */
export const netNumbersMax = 200;
/** Recipe retries (lock: waits for predecessors; append: nothing) inside one operation. */
export const recipeStepsMax = 64;
