import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { SshcaError } from "../errors.js";
import { type Config, configSchema } from "./schema.js";

/** Turns zod issues into "path.to.key: message" lines, the path an operator can find in YAML. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
}

/** Validates an already-parsed YAML/JSON value; throws config_invalid naming every bad path. */
export function parseConfig(value: unknown, source: string): Config {
  const result = configSchema.safeParse(value ?? {});
  if (!result.success) {
    const lines = formatIssues(result.error.issues);
    throw new SshcaError("config_invalid", `${source}: invalid config\n  ${lines.join("\n  ")}`, {
      details: { problems: lines },
    });
  }
  return result.data;
}

/** Reads and validates a YAML config file. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SshcaError("config_invalid", `cannot read config ${path}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new SshcaError("config_invalid", `${path}: YAML error: ${first.message.split("\n")[0]}`);
  }
  return parseConfig(doc.toJS({ maxAliasCount: 100 }), path);
}

/** The package root (where package.json and config/ live), from this module's location. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "config"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the sshca package root");
    dir = up;
  }
}

/** The commented example config shipped in config/, used when no --config is given. */
export function embeddedConfigPath(): string {
  return resolve(packageRoot(), "config", "sshcad.example.yaml");
}
