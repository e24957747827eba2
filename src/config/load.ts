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

/** Settings given on the command line that take the place of the file's (validated with it). */
export interface ConfigOverrides {
  listen?: { address?: string | undefined; port?: number | undefined };
}

/** Reads and validates a YAML config file, with command-line overrides applied before validation. */
export function loadConfigFile(path: string, overrides: ConfigOverrides = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SshcaError("config_invalid", `cannot read config ${path}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const [line, col] = [first.linePos?.[0]?.line, first.linePos?.[0]?.col];
    const where = line === undefined ? "" : `:${line}${col === undefined ? "" : `:${col}`}`;
    // The offending line itself, and a caret under the column, so the operator sees it at once.
    const source = line === undefined ? undefined : text.split(/\r?\n/)[line - 1];
    const frame =
      source === undefined
        ? ""
        : `\n  ${line} | ${source}\n  ${" ".repeat(String(line).length)} | ${" ".repeat(Math.max(0, (col ?? 1) - 1))}^`;
    throw new SshcaError(
      "config_invalid",
      `${path}${where}: YAML error: ${first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}${frame}`,
    );
  }
  return parseConfig(applyOverrides(doc.toJS({ maxAliasCount: 100 }), overrides), path);
}

function applyOverrides(raw: unknown, o: ConfigOverrides): unknown {
  const listen = Object.fromEntries(Object.entries(o.listen ?? {}).filter(([, v]) => v !== undefined));
  if (Object.keys(listen).length === 0) return raw;
  const doc = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const current = typeof doc.listen === "object" && doc.listen !== null ? doc.listen : {};
  return { ...doc, listen: { ...current, ...listen } };
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

/** This installation's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}
