import { describe, expect, test } from "vitest";
import { decideHours, describeHours, formatLocal } from "../../src/access/hours.js";
import type { HoursConfig } from "../../src/config/policy-schema.js";

const office: HoursConfig = {
  timeZone: "Europe/Berlin",
  open: [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "08:00", to: "18:00" }],
};
const night: HoursConfig = { timeZone: "UTC", open: [{ days: ["fri"], from: "22:00", to: "06:00" }] };
const early: HoursConfig = { timeZone: "Europe/Berlin", open: [{ days: ["sun"], from: "02:30", to: "04:00" }] };
const tokyo: HoursConfig = { timeZone: "Asia/Tokyo", open: [{ days: ["mon"], from: "09:00", to: "24:00" }] };

describe("decideHours: requestable now, or when next", () => {
  test.each([
    // 2026-01-05 is a Monday; Berlin is UTC+1 in winter, UTC+2 in summer.
    { name: "ok/Monday 09:00 in Berlin (08:00Z)", rule: office, at: "2026-01-05T08:00:00Z", next: undefined },
    { name: "ok/first minute of the range", rule: office, at: "2026-01-05T07:00:00Z", next: undefined },
    {
      name: "fail/one minute before opening opens in a minute",
      rule: office,
      at: "2026-01-05T06:59:00Z",
      next: "2026-01-05T07:00:00.000Z",
    },
    {
      name: "fail/the end of the range is closed; next is tomorrow morning",
      rule: office,
      at: "2026-01-05T17:00:00Z",
      next: "2026-01-06T07:00:00.000Z",
    },
    {
      name: "fail/Saturday opens on Monday at 08:00 local",
      rule: office,
      at: "2026-01-03T10:12:00Z",
      next: "2026-01-05T07:00:00.000Z",
    },
    {
      name: "fail/Friday evening in summer time: Monday 08:00 CEST is 06:00Z",
      rule: office,
      at: "2026-06-19T17:30:00Z",
      next: "2026-06-22T06:00:00.000Z",
    },
    {
      name: "fail/the weekend the clocks go forward: Monday 08:00 is 06:00Z, not 07:00Z",
      rule: office,
      at: "2026-03-28T12:00:00Z",
      next: "2026-03-30T06:00:00.000Z",
    },
    {
      name: "ok/an overnight range is open after midnight on the next day",
      rule: night,
      at: "2026-01-10T03:00:00Z",
      next: undefined,
    },
    { name: "ok/an overnight range is open on its own day", rule: night, at: "2026-01-09T23:00:00Z", next: undefined },
    {
      name: "fail/an overnight range closed on Saturday morning opens next Friday 22:00",
      rule: night,
      at: "2026-01-10T06:00:00Z",
      next: "2026-01-16T22:00:00.000Z",
    },
    {
      name: "fail/a local time the clocks skip (02:30 on 2026-03-29 in Berlin) opens when the clock jumps past it",
      rule: early,
      at: "2026-03-28T12:00:00Z",
      next: "2026-03-29T01:00:00.000Z",
    },
    {
      name: "fail/a local time that happens twice (02:30 on 2026-10-25 in Berlin) opens at its first",
      rule: early,
      at: "2026-10-24T12:00:00Z",
      next: "2026-10-25T00:30:00.000Z",
    },
    { name: "ok/24:00 is the end of the day", rule: tokyo, at: "2026-01-05T14:59:00Z", next: undefined },
    {
      name: "fail/Tokyo is ahead: Sunday 23:59 UTC is already Monday 08:59 there",
      rule: tokyo,
      at: "2026-01-04T23:59:00Z",
      next: "2026-01-05T00:00:00.000Z",
    },
  ])("$name", ({ rule, at, next }) => {
    const d = decideHours(rule, new Date(at));
    if (next === undefined) expect(d).toEqual({ open: true });
    else expect(d).toEqual({ open: false, nextOpen: new Date(next) });
  });

  test("the rule and local times read as people write them", () => {
    expect(describeHours(office)).toBe("Mon-Fri 08:00-18:00 (Europe/Berlin)");
    expect(describeHours(night)).toBe("Fri 22:00-06:00 (UTC)");
    expect(formatLocal(new Date("2026-01-05T07:00:00Z"), "Europe/Berlin")).toBe("Mon 2026-01-05 08:00 Europe/Berlin");
  });
});
