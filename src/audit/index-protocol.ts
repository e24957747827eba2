import type { AuditFilter } from "./query.js";
import type { AuditRecord } from "./record.js";

/** What the index worker is started with. */
export interface IndexWorkerData {
  auditDir: string;
  indexPath: string;
  /** The log's newest durable record when the worker starts. */
  headSeq: number;
}

/** Messages to the index worker. */
export type ToIndex =
  /** The log's newest durable record moved (a batch was committed). */
  | { type: "head"; seq: number }
  | {
      type: "query";
      id: number;
      filter: AuditFilter;
      limit: number;
      before: number | undefined;
      /** The answer must include every record up to this one (the durable head when asked). */
      atLeast: number;
    }
  | { type: "close" };

/** Messages from the index worker. */
export type FromIndex =
  | { type: "answer"; id: number; records: AuditRecord[]; more: boolean }
  | { type: "failed"; id: number; code: "unavailable" | "internal"; message: string }
  | { type: "progress"; indexed: number }
  | { type: "log"; level: "info" | "warn" | "error"; msg: string; data?: Record<string, unknown> }
  | { type: "closed" };
