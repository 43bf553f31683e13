// Chat UI: posts the message to the backend and shows the reply.
async function send(text) {
  const r = await fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  return (await r.json()).reply;
}
window.todoChat = { send };
