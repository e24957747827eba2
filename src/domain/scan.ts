/** Scans of inventory hosts: what was found, and how it compares to before. */

/** issue, expiry, revoke: the window's edges; watch: during the window (role or host `watch`); manual: on demand. */
export type ScanTrigger = "issue" | "watch" | "expiry" | "revoke" | "manual";
export type ScanOutcome = "ok" | "failed" | "timeout";

export interface PortResult {
  port: number;
  protocol: string;
  /** open | closed | filtered | unfiltered | open|filtered | closed|filtered */
  state: string;
  /** nmap's service name (from its table, or detected with versionDetection). */
  service?: string;
  product?: string;
  version?: string;
}

/** One scan of one host, as recorded in the audit log. */
export interface ScanRecord {
  id: string;
  request?: string;
  host: string;
  address: string;
  trigger: ScanTrigger;
  startedAt: string;
  durationMs: number;
  nmapVersion: string;
  args: string[];
  outcome: ScanOutcome;
  /** Why a scan failed or timed out; a failed scan is never "no open ports". */
  error?: string;
  ports: PortResult[];
  /** Ports nmap summarised instead of listing (e.g. 98 closed). */
  extraPorts: { state: string; count: number }[];
  expectedPorts: number[];
  drift?: Drift;
}

/** What changed between two scans of a host, and against its expected ports. */
export interface Drift {
  newlyOpen: PortResult[];
  newlyClosed: PortResult[];
  serviceChanged: { before: PortResult; after: PortResult }[];
  /** Open now but not in the host's expectedPorts. */
  unexpectedOpen: PortResult[];
  /** In expectedPorts but not open now. */
  expectedClosed: number[];
  /** The scan compared against (the issue-time scan), if there was a usable one. */
  baseline?: string;
}

/** What a request keeps about one scan (the full record is in the audit log). */
export interface ScanRef {
  id: string;
  trigger: ScanTrigger;
  outcome: ScanOutcome;
  at: string;
  open: PortResult[];
  error?: string;
}

/**
 * What sshcad knows about one inventory host's exposure now: its latest scan, and drift that
 * nobody has looked at yet. Kept in the live state (collection `hosts`); the scans themselves are
 * in the audit log. Scan-aware roles decide on it (see access/scan-aware.ts).
 */
export interface HostStatus {
  latest?: {
    scan: string;
    at: string;
    trigger: ScanTrigger;
    outcome: ScanOutcome;
    /** Open ports outside the host's expectedPorts. */
    unexpectedOpen: PortResult[];
    error?: string;
  };
  /** Unresolved drift: a scan found a change or an unexpected open port; open until an approver resolves it. */
  drift?: { since: string; scan: string; summary: string };
  /** The last time an approver marked drift resolved. */
  resolved?: { by: string; at: string; comment: string; scan: string; summary: string };
}
