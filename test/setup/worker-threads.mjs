// Worker threads started by the code under test (the audit index and verification workers) load
// their entry module with Node itself, not through Vitest. Under test that module is TypeScript
// source: Node strips the types, and this hook resolves the ".js" specifiers the sources use to
// the ".ts" files next to them. Loaded into every test process (vitest.config.ts execArgv), whose
// worker threads inherit it; the built daemon (dist/) never needs it.
import { register } from "node:module";
import { URL } from "node:url";

register(new URL("./ts-resolve.mjs", import.meta.url));
