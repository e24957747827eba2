import { z } from "zod";
import { parseDuration } from "./duration.js";
import { IDENT } from "./names.js";

/** Field types shared by the config schemas. */

/** A duration; the message names no key, since the error already starts with its path. */
export const duration = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const seconds = parseDuration(v);
    if (seconds === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `expected a duration such as "90s", "15m", "1h" or "7d"`,
      });
      return z.NEVER;
    }
    return seconds;
  });

export const ident = (what: string) =>
  z.string().regex(IDENT, `${what} must match ${IDENT.source} (lowercase, start with a letter)`);
