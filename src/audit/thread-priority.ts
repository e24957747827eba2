import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Lowers the calling thread's CPU priority. On Linux each thread has its own nice value:
 * setpriority(2) on this thread's id (from /proc/thread-self) lowers only this thread, so the
 * thread answering requests keeps the CPU it needs. Elsewhere (or if not allowed) nothing changes.
 */
export function lowerThreadPriority(niceness: number): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, niceness);
  } catch {
    // not Linux, or not allowed: run at the daemon's priority
  }
}
