import type { RoleConfig } from "../config/schema.js";
import type { AccessRequest, Approval, StageRule } from "../domain/request.js";

/**
 * Approval stages: which approvals count for which stage, and what is still open. A person
 * counts for one stage only (the requester and auto-approval for none); a bot counts for the
 * stages that name it, and fills at most count - 1 places of a stage unless the stage says
 * botAlone. Pure.
 */

/** The audit actor and approver name of an approver bot. */
export const botActor = (bot: string) => `bot:${bot}`;

/** How a stage stands: who counts for it, and how many are still missing. */
export interface StageStatus {
  name: string;
  count: number;
  groups: string[];
  bots: string[];
  because?: string;
  /** Approvers (people, and bot:NAME) counted for this stage, in the order they approved. */
  approvedBy: string[];
  /** Approvals still needed. */
  missing: number;
  /** Of the missing approvals, those only a person can give (bots may not fill them). */
  missingPeople: number;
  met: boolean;
}

/** Stands for "any group" (no group is named "*"). */
const ANY = ["*"];

/**
 * The stages of a request: its own (from when it was made), or, for a request made before stages
 * existed, the one stage of its role's approvers (any approver, when the role is not given: each
 * was checked as an approver when they approved).
 */
export function stagesOf(req: AccessRequest, role: RoleConfig | undefined): StageRule[] {
  if (req.stages) return req.stages;
  if (req.approvals.some((a) => a.auto)) return [];
  return [{ name: "approvers", groups: role?.approvers ?? ANY, count: req.approvalsRequired }];
}

/** Which approvers' groups to use: the caller's (current) view, or what each approval recorded. */
export type GroupsOf = (approval: Approval) => readonly string[] | undefined;

/**
 * The groups an approval recorded. An approval from before stages existed carries none: it was
 * checked against the role's approvers then, and such a request has one stage.
 */
export const recordedGroups: GroupsOf = (a) => a.groups ?? ANY;

function eligible(stage: StageRule, a: Approval, groupsOf: GroupsOf): boolean {
  if (a.auto) return false;
  if (a.bot !== undefined) return (stage.bots ?? []).includes(a.bot);
  const groups = groupsOf(a);
  if (groups === undefined) return false;
  return groups === ANY || stage.groups === ANY || groups.some((g) => stage.groups.includes(g));
}

interface Slot {
  stage: number;
  botOk: boolean;
}

/**
 * The best assignment of approvals to stage places (a maximum bipartite matching, so an early
 * approver who could serve two stages never blocks a later one who can serve only one), and the
 * status of each stage. `assigned[i]` is the stage approval i counts for, or undefined.
 */
export function assignStages(
  stages: readonly StageRule[],
  approvals: readonly Approval[],
  groupsOf: GroupsOf = recordedGroups,
): { status: StageStatus[]; assigned: (string | undefined)[] } {
  const slots: Slot[] = stages.flatMap((s, stage) => {
    const botPlaces = (s.bots ?? []).length === 0 ? 0 : s.botAlone ? s.count : s.count - 1;
    return Array.from({ length: s.count }, (_, i) => ({ stage, botOk: i < botPlaces }));
  });
  const owner: (number | undefined)[] = slots.map(() => undefined);
  const fits = (a: number, slot: Slot) => {
    const approval = approvals[a]!;
    return (approval.bot === undefined || slot.botOk) && eligible(stages[slot.stage]!, approval, groupsOf);
  };
  const augment = (a: number, seen: Set<number>): boolean => {
    for (let i = 0; i < slots.length; i++) {
      if (seen.has(i) || !fits(a, slots[i]!)) continue;
      seen.add(i);
      const holder = owner[i];
      if (holder === undefined || augment(holder, seen)) {
        owner[i] = a;
        return true;
      }
    }
    return false;
  };
  // Each person (or bot) counts once, whatever number of approvals carry their name.
  const seenNames = new Set<string>();
  approvals.forEach((a, i) => {
    if (seenNames.has(a.approver)) return;
    seenNames.add(a.approver);
    augment(i, new Set());
  });
  const assigned: (string | undefined)[] = approvals.map(() => undefined);
  owner.forEach((a, i) => {
    if (a !== undefined) assigned[a] = stages[slots[i]!.stage]!.name;
  });
  const status = stages.map((s, index) => {
    const mine = approvals.filter((_, a) => owner.some((o, i) => o === a && slots[i]!.stage === index));
    const freeSlots = slots.filter((slot, i) => slot.stage === index && owner[i] === undefined);
    const missing = s.count - mine.length;
    return {
      name: s.name,
      count: s.count,
      groups: s.groups,
      bots: s.bots ?? [],
      ...(s.because ? { because: s.because } : {}),
      approvedBy: mine.map((a) => a.approver),
      missing,
      missingPeople: freeSlots.filter((slot) => !slot.botOk).length,
      met: missing === 0,
    };
  });
  return { status, assigned };
}

export const allMet = (status: readonly StageStatus[]) => status.every((s) => s.met);

/**
 * "leads: 1 more from leads (dave, erin)" for every stage still open: what is missing and who can
 * close it. `membersOf` lists the people of some groups (without the requester and those who
 * approved already).
 */
export function describeOpen(
  status: readonly StageStatus[],
  membersOf?: (groups: readonly string[]) => readonly string[],
): string {
  return status
    .filter((s) => !s.met)
    .map((s) => {
      const people = membersOf?.(s.groups) ?? [];
      const who = `${s.groups.join(" or ")}${people.length ? ` (${people.join(", ")})` : ""}`;
      const bots = s.bots.length && s.missing > s.missingPeople ? ` or bot ${s.bots.join(", ")}` : "";
      const because = s.because ? ` [${s.because}]` : "";
      return `${s.name}: ${s.missing} more from ${who}${bots}${because}`;
    })
    .join("; ");
}

/** A stage still open, for notifications and the audit log: what is missing and who can close it. */
export interface OpenStage {
  stage: string;
  missing: number;
  groups: string[];
  bots: string[];
  because?: string;
  /** People who could approve it now (members of its groups, not the requester, not yet approving). */
  canClose: string[];
}

/** The open stages of a request, with the people who could close each. */
export function openStages(
  req: AccessRequest,
  role: RoleConfig | undefined,
  membersOf: (groups: readonly string[]) => readonly string[],
): OpenStage[] {
  const { status } = assignStages(stagesOf(req, role), req.approvals);
  return status
    .filter((s) => !s.met)
    .map((s) => ({
      stage: s.name,
      missing: s.missing,
      groups: s.groups,
      bots: s.bots,
      ...(s.because ? { because: s.because } : {}),
      canClose: membersOf(s.groups).filter((u) => u !== req.requester && !req.approvals.some((a) => a.approver === u)),
    }));
}
