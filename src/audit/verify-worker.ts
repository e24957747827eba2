/**
 * The verification worker thread: walks the whole log (streaming, see verify.ts) off the
 * daemon's event loop, at a lower CPU priority than the thread answering requests.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { type VerifyOptions, verifyAudit } from "./verify.js";

/**
 * On Linux each thread has its own nice value: setpriority(2) on this thread's id (from
 * /proc/thread-self) lowers only this thread, so issuance keeps the CPU it needs while a
 * verification runs. Elsewhere the thread keeps the daemon's priority.
 */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, 10);
  } catch {
    // not Linux, or not allowed: run at the daemon's priority
  }
}

lowerPriority();
const { dir, opts } = workerData as { dir: string; opts: VerifyOptions };
parentPort!.postMessage(await verifyAudit(dir, opts));
