// Builds the mobile web app into src/grc_api/web/static (committed, so the Python package
// serves it without Node.js).  Reproducible: no timestamps, content-hashed asset names, and a
// build-info.json whose sources_sha256 a Python test recomputes from the sources.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = join(here, "..", "src", "grc_api", "web", "static");

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

function walk(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
}

// The same digest tests/mobile/test_build.py computes: each file's path (relative to web/,
// with "/") then its bytes, in path order.
function sourcesDigest() {
  const files = [...walk(src), join(here, "package-lock.json"), join(here, "build.mjs")]
    .map((p) => relative(here, p).split(sep).join("/"))
    .sort();
  const hash = createHash("sha256");
  for (const name of files) {
    hash.update(name + "\0");
    hash.update(readFileSync(join(here, name)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

async function bundle(entry, extra = {}) {
  const result = await esbuild.build({
    entryPoints: [join(src, entry)],
    bundle: true,
    minify: true,
    write: false,
    format: entry.endsWith(".css") ? undefined : "esm",
    target: ["es2020", "chrome90", "safari14"],
    legalComments: "none",
    charset: "utf8",
    logLevel: "warning",
    ...extra,
  });
  return result.outputFiles[0].contents;
}

const hashed = (stem, ext, data) => `${stem}-${sha256(data).slice(0, 12)}.${ext}`;

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
const files = {};
const emit = (name, data) => {
  writeFileSync(join(out, name), data);
  files[name] = sha256(data);
};

const js = await bundle("main.js");
const css = await bundle("app.css");
const jsName = `assets/${hashed("app", "js", js)}`;
const cssName = `assets/${hashed("app", "css", css)}`;
emit(jsName, js);
emit(cssName, css);

const html = readFileSync(join(src, "index.html"), "utf8")
  .replace("{{css}}", `/${cssName}`)
  .replace("{{js}}", `/${jsName}`);
emit("index.html", html);
emit("manifest.webmanifest", readFileSync(join(src, "manifest.webmanifest")));
for (const icon of readdirSync(join(src, "icons")).sort()) {
  mkdirSync(join(out, "icons"), { recursive: true });
  emit(`icons/${icon}`, readFileSync(join(src, "icons", icon)));
}

// The service worker precaches the app shell; its version changes with any shell file.
const shell = ["/", ...Object.keys(files).sort().map((f) => `/${f}`)];
const version = sha256(JSON.stringify(Object.entries(files).sort())).slice(0, 16);
const sw = await bundle("sw.js", {
  define: { __SHELL__: JSON.stringify(shell), __VERSION__: JSON.stringify(version) },
});
emit("sw.js", sw);

const info = { sources_sha256: sourcesDigest(), files: Object.fromEntries(Object.entries(files).sort()) };
writeFileSync(join(out, "build-info.json"), JSON.stringify(info, null, 2) + "\n");
console.log(`built ${Object.keys(files).length} files into ${relative(process.cwd(), out)}`);
