import { existsSync } from "node:fs";
import { fileURLToPath, URL } from "node:url";

/** Resolves "./x.js" to "./x.ts" when only the TypeScript source exists (see worker-threads.mjs). */
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code !== "ERR_MODULE_NOT_FOUND" || !specifier.endsWith(".js")) throw err;
    const ts = new URL(specifier.replace(/\.js$/, ".ts"), context.parentURL);
    if (ts.protocol !== "file:" || !existsSync(fileURLToPath(ts))) throw err;
    return next(ts.href, context);
  }
}
