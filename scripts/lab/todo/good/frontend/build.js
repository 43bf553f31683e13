// `npm run build`: the production bundle into .next/ (the build tool is a devDependency).
require('todo-build-tools').build(`${__dirname}/app/chat.js`, `${__dirname}/.next`);
