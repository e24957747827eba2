import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

/**
 * A directory for this test run's PostgreSQL initdb template (test/helpers/postgres.ts builds
 * it on first use and copies it for each cluster), removed when the run ends. Empty, and so
 * free, for runs that start no PostgreSQL.
 */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "sshca-pg-template-"));
  project.provide("postgresTemplateDir", dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
