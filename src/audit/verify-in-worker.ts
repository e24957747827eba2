import { Worker } from "node:worker_threads";
import { SshcaError } from "../errors.js";
import type { VerifyOptions, VerifyResult } from "./verify.js";

/**
 * Heap bounds for the verification thread: it streams, so it needs little; a small young
 * generation keeps its resident memory near 30 MB (a default one more than doubles that).
 */
const LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 };

/** Runs verifyAudit in a worker thread; the caller's event loop only waits. Abort stops it. */
export function verifyInWorker(dir: string, opts: VerifyOptions, signal?: AbortSignal): Promise<VerifyResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./verify-worker.js", import.meta.url), {
      workerData: { dir, opts },
      resourceLimits: LIMITS,
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = () => {
      settle(() => reject(new SshcaError("unavailable", "the audit verification was stopped (sshcad is stopping)")));
      void worker.terminate();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort);
    worker.once("message", (result: VerifyResult) => settle(() => resolve(result)));
    worker.once("error", (err) =>
      settle(() => reject(new SshcaError("internal", `audit verification failed: ${err.message}`))),
    );
    worker.once("exit", (code) =>
      settle(() => reject(new SshcaError("internal", `audit verification stopped early (exit ${code})`))),
    );
  });
}
