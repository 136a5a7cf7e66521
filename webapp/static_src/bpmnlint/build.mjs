// Builds webapp/static/vendor/bpmnlint/procon-lint.js (+ the bpmn-js-bpmnlint CSS) from index.js,
// packing .bpmnlintrc the way bpmnlint-loader does (bpmnlint's compile-config turns the config into
// a module that imports every enabled rule). Run: npm install && npm run build
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const compileConfig = require("bpmnlint/lib/support/compile-config");
const outDir = join(here, "..", "..", "static", "vendor", "bpmnlint");

const packedConfig = {
  name: "packed-bpmnlint-config",
  setup(b) {
    b.onResolve({ filter: /^procon-lint-config$/ }, () => ({ path: join(here, ".bpmnlintrc"), namespace: "bpmnlintrc" }));
    b.onLoad({ filter: /.*/, namespace: "bpmnlintrc" }, async (args) => ({
      contents: await compileConfig(JSON.parse(readFileSync(args.path, "utf8"))),
      loader: "js",
      resolveDir: here
    }));
  }
};

mkdirSync(outDir, { recursive: true });
await build({
  entryPoints: [join(here, "index.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2019"],
  legalComments: "eof",
  outfile: join(outDir, "procon-lint.js"),
  plugins: [packedConfig],
  banner: { js: "/* Procon Flow lint bundle: bpmn-js-bpmnlint 0.24.0 + bpmnlint 11.15.0 (MIT). Source: webapp/static_src/bpmnlint */" }
});
copyFileSync(require.resolve("bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css"), join(outDir, "bpmn-js-bpmnlint.css"));
copyFileSync(join(here, "node_modules", "bpmnlint", "LICENSE"), join(outDir, "LICENSE-bpmnlint"));
copyFileSync(join(here, "node_modules", "bpmn-js-bpmnlint", "LICENSE"), join(outDir, "LICENSE-bpmn-js-bpmnlint"));
console.log("wrote", outDir);
