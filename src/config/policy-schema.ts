import { z } from "zod";
import { duration, ident } from "./fields.js";

/**
 * The approval-policy parts of a role (stages, break-glass, scan-aware approval, request hours,
 * single use) and the approver bots they name. Defaults live here; cross-references (groups,
 * bots, scanning) are checked in schema.ts with the rest of the role.
 */

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Day = (typeof DAYS)[number];

/** True when Intl knows the IANA time zone (Node ships full ICU). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const clock = z
  .string()
  .regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'expected a time of day "HH:MM" from 00:00 to 24:00');

/**
 * When a role may be requested, in a time zone: ranges of local time on some days. A range whose
 * `to` is not after its `from` runs past midnight into the next day (22:00-06:00).
 */
export const hoursSchema = z.strictObject({
  timeZone: z
    .string()
    .refine(isTimeZone, "unknown time zone (an IANA name such as Europe/Berlin, or UTC)")
    .default("UTC"),
  open: z
    .array(
      z
        .strictObject({
          days: z.array(z.enum(DAYS, { message: `expected days among ${DAYS.join(", ")}` })).min(1),
          from: clock.refine((v) => v !== "24:00", "a range cannot start at 24:00"),
          to: clock,
        })
        .refine((r) => r.from !== r.to, { message: "from and to are the same time; the range would be empty" }),
    )
    .min(1, "give at least one range of open hours"),
});
export type HoursConfig = z.output<typeof hoursSchema>;

/** One approval stage as the config writes it (domain: StageRule, with `groups`). */
export const stageSchema = z
  .strictObject({
    // "scan" is the stage sshcad adds for a host whose scan is not clean (access/scan-aware.ts).
    name: ident("stage name").refine((n) => n !== "scan", 'the stage name "scan" is kept for scan-aware roles'),
    /** Groups whose members may approve for this stage. */
    approvers: z.array(ident("group")).min(1, "a stage needs at least one approver group"),
    /** Distinct approvals this stage needs. */
    count: z.int().min(1).max(10).default(1),
    /** Approver bots (approverBots:) asked for this stage; each yes counts as one approval. */
    bots: z.array(ident("bot name")).default([]),
    /** A bot's yes may be the only approval of this stage (otherwise a person is always needed too). */
    botAlone: z.boolean().default(false),
  })
  .refine((s) => s.bots.length === 0 || s.botAlone || s.count >= 2, {
    message:
      "a bot is never the only approval of a stage: with count 1 a bot's yes could not count; set botAlone: true, or count: 2 (a bot and a person)",
    path: ["bots"],
  });

/** Emergency access: issued at once, announced to every approver and auditor, reviewed afterwards. */
export const breakGlassSchema = z.strictObject({
  /** The longest certificate a break-glass request may get (short: it is not approved). */
  maxTtl: duration()
    .pipe(
      z
        .int()
        .min(1)
        .max(4 * 3600, "may be at most 4h"),
    )
    .prefault("15m"),
  /** Groups that may break glass; default: the role's requesters. Members must also be requesters. */
  requesters: z.array(ident("group")).min(1).optional(),
  /** While a break-glass request waits for its review, its approvers are reminded this often. */
  remindEvery: duration()
    .pipe(
      z
        .int()
        .min(60)
        .max(7 * 86400),
    )
    .prefault("4h"),
});

/** Approval that depends on each host's scans (see access/scan-aware.ts). */
export const scanAwareSchema = z.strictObject({
  /** A host with unresolved drift: one more approval ("extra-approval"), or no request at all ("refuse"). */
  onDrift: z.enum(["extra-approval", "refuse"]).default("extra-approval"),
});

/** An HTTP endpoint asked to approve (the on-call pattern): HMAC-signed, time-bounded. */
export const approverBotSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, message: "expected an http(s) URL" }),
    /** The HMAC-SHA256 key that signs the call and the answer, from a file or an environment variable. */
    secretFile: z.string().min(1).optional(),
    secretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    /** How long the bot has to answer; the signed call says until when. */
    timeout: duration().pipe(z.int().min(1).max(60, "may be at most 60s")).prefault("10s"),
  })
  .refine((b) => (b.secretFile === undefined) !== (b.secretEnv === undefined), {
    message: "give exactly one of secretFile or secretEnv",
  });
export type ApproverBotConfig = z.output<typeof approverBotSchema>;
