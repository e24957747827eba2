import { z } from "zod";
import { duration } from "./fields.js";

/**
 * What target hosts' companions (sshca host) report, and what the daemon makes of it: logins and
 * logouts with sshca certificates become session.opened / session.closed audit records, and
 * what should not have happened becomes a finding.
 */
export const evidenceSchema = z
  .strictObject({
    /**
     * A host whose companion has reported before and then is silent this long raises a
     * host_silent finding (once, until it reports again). Keep it well above the companion's
     * --interval (default 60s).
     */
    silentAfter: duration()
      .pipe(
        z
          .int()
          .min(60, "must be at least 1m")
          .max(7 * 86400),
      )
      .prefault("5m"),
  })
  .prefault({});

export type EvidenceConfig = z.output<typeof evidenceSchema>;
