// Typeset TeX strings with MathJax 3 (base + ams, no textmacros: a plain Jekyll setup)
// and report, per string, an error or any text that shows a backslash literally.
// Input: a JSON array of TeX strings on stdin. Output: a JSON array of problems ("" if none).
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {STATE} = require('mathjax-full/js/core/MathItem.js');
const {SerializedMmlVisitor} = require('mathjax-full/js/core/MmlTree/SerializedMmlVisitor.js');
require('mathjax-full/js/input/tex/base/BaseConfiguration.js');
require('mathjax-full/js/input/tex/ams/AmsConfiguration.js');

RegisterHTMLHandler(liteAdaptor());
const doc = mathjax.document('', {InputJax: new TeX({packages: ['base', 'ams']})});
const visitor = new SerializedMmlVisitor();
const blocks = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const problems = blocks.map((tex) => {
  try {
    const mml = visitor.visitTree(doc.convert(tex, {display: true, end: STATE.COMPILED}));
    if (mml.includes('<merror')) return 'MathJax error: ' + mml.replace(/\s+/g, ' ').slice(0, 200);
    const literal = (mml.match(/<mtext>[^<]*\\[^<]*<\/mtext>/g) || []);
    return literal.length ? 'shown literally: ' + literal.join(' ') : '';
  } catch (e) {
    return 'MathJax error: ' + e.message;
  }
});
process.stdout.write(JSON.stringify(problems));
