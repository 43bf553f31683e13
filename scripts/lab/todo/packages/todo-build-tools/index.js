// Lab stand-in for `next build`: writes the production bundle into .next/.
const fs = require('node:fs');
const path = require('node:path');
exports.build = (src, out) => {
  fs.mkdirSync(path.join(out, 'static'), { recursive: true });
  const js = fs.readFileSync(src, 'utf8').replace(/\/\/.*$/gm, '').replace(/\s+/g, ' ');
  fs.writeFileSync(path.join(out, 'static', 'app.js'), js);
  fs.writeFileSync(path.join(out, 'BUILD_ID'), `${Date.now()}\n`);
};
