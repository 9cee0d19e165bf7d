// Compile every MJML file named on the command line with the official compiler, in one
// process, and print the seconds spent compiling (start-up excluded) as JSON.
const fs = require("fs");
const mjml2html = require("mjml");
const files = process.argv.slice(2);
const sources = files.map((f) => fs.readFileSync(f, "utf8"));
mjml2html(sources[0], { validationLevel: "skip" }); // warm-up, like the Python side
const start = process.hrtime.bigint();
let bytes = 0;
for (const source of sources) {
  bytes += mjml2html(source, { validationLevel: "skip", minify: false }).html.length;
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ files: files.length, seconds, bytes }));
