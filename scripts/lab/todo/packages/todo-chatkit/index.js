// Lab stand-in for the ChatKit runtime: renders the chat page shell.
exports.renderPage = (title) => `<!doctype html><html><head><title>${title}</title></head><body><div id="chat"></div><script src="/static/app.js"></script></body></html>`;
