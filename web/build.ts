/**
 * Builds the web console into dist/console: one bundled script and one stylesheet with content
 * hashes in their names (served with a year's cache; a new build has new names), and index.html
 * (served no-cache) that loads them. No inline script or style: the console's CSP forbids both.
 *
 *   node web/build.ts        (npm run build runs it after tsc)
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { build } from "esbuild";

const root = resolve(import.meta.dirname, "..");
const out = join(root, "dist", "console");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

const result = await build({
  entryPoints: [join(root, "web", "src", "main.tsx"), join(root, "web", "src", "style.css")],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  jsxImportSource: "preact",
  entryNames: "[name]-[hash]",
  outdir: join(out, "assets"),
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const files = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = files.find((f) => f.startsWith("main-") && f.endsWith(".js"));
const style = files.find((f) => f.startsWith("style-") && f.endsWith(".css"));
if (!script || !style) throw new Error(`the console build is missing its script or stylesheet: ${files.join(", ")}`);

writeFileSync(
  join(out, "index.html"),
  [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>sshca console</title>",
    `<link rel="stylesheet" href="/console/assets/${style}">`,
    `<script type="module" src="/console/assets/${script}"></script>`,
    "</head>",
    '<body><div id="app"><p class="loading">Loading the console…</p></div></body>',
    "</html>",
    "",
  ].join("\n"),
);
