/**
 * The verification worker thread: walks the whole log (streaming, see verify.ts) off the
 * daemon's event loop, at the lowest CPU priority and with a CPU budget: after each chunk it
 * rests as long as the chunk took, so it never takes more than half a core. Niceness alone is
 * not enough where threads share a physical core or the host schedules virtual CPUs (measured
 * here: a busy loop at nice 19 still slowed issuance), and a verification has no deadline.
 */
import { parentPort, workerData } from "node:worker_threads";
import { lowerThreadPriority } from "./thread-priority.js";
import { type VerifyOptions, verifyAudit } from "./verify.js";

/** The share of one core a verification may use. */
const DUTY = 0.5;

/** Rests after each chunk in proportion to the time the chunk took. */
function pacer(duty: number): () => Promise<void> {
  let since = performance.now();
  return async () => {
    const worked = performance.now() - since;
    await new Promise((r) => setTimeout(r, (worked * (1 - duty)) / duty));
    since = performance.now();
  };
}

lowerThreadPriority(19);
const { dir, opts } = workerData as { dir: string; opts: VerifyOptions };
parentPort!.postMessage(await verifyAudit(dir, { ...opts, pace: pacer(DUTY) }));
