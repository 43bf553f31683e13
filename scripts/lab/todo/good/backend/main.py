"""Todo AI chatbot backend (lab replica of seed 003): FastAPI, todos in memory, a stub chat endpoint."""
import os

from fastapi import FastAPI

app = FastAPI(title="todo-backend")
TODOS: list[dict] = []


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/api/todos")
def list_todos() -> list[dict]:
    return TODOS


@app.post("/api/todos")
def add_todo(todo: dict) -> dict:
    item = {"id": len(TODOS) + 1, "title": str(todo.get("title", "")), "done": False}
    TODOS.append(item)
    return item


@app.post("/api/chat")
def chat(message: dict) -> dict:
    # The real app calls the OpenAI Agents SDK with OPENAI_API_KEY from the runtime environment.
    configured = bool(os.environ.get("OPENAI_API_KEY"))
    return {"reply": f"noted: {message.get('text', '')}", "llm": configured}
