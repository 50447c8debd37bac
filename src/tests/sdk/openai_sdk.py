"""The official `openai` Python SDK against openclaw-rs (run by the e2e test `openai_sdk`).

Env: OPENCLAW_BASE_URL (http://127.0.0.1:PORT/v1), OPENCLAW_TOKEN. The gateway's default
agent talks to the scripted upstream, which echoes "echo: <message>" word by word.
Prints one line per check and exits non-zero on the first failure.
"""
import os
import sys

import openai

base = os.environ["OPENCLAW_BASE_URL"]
token = os.environ["OPENCLAW_TOKEN"]
client = openai.OpenAI(base_url=base, api_key=token, max_retries=0, timeout=30)
checks = 0


def check(name, cond, detail=""):
    global checks
    if not cond:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    checks += 1
    print(f"ok {name}")


models = client.models.list()
ids = [m.id for m in models.data]
check("models.list", ids[:2] == ["openclaw", "openclaw/default"], ids)
m = client.models.retrieve("openclaw/default")
check("models.retrieve", m.id == "openclaw/default" and m.owned_by == "openclaw", m)

try:
    openai.OpenAI(base_url=base, api_key="wrong-key", max_retries=0).models.list()
    check("wrong key", False, "no error")
except openai.AuthenticationError as e:
    check("wrong key -> AuthenticationError", e.status_code == 401, e)

c = client.chat.completions.create(
    model="openclaw/default", messages=[{"role": "user", "content": "hello sdk"}]
)
check("chat completion", c.choices[0].message.content == "echo: hello sdk", c)
check("chat completion usage", c.usage is not None and c.usage.total_tokens > 0, c.usage)

stream = client.chat.completions.create(
    model="openclaw",
    messages=[{"role": "user", "content": "stream me please"}],
    stream=True,
    stream_options={"include_usage": True},
)
parts, usage, finish = [], None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for ch in chunk.choices:
        if ch.delta.content:
            parts.append(ch.delta.content)
        if ch.finish_reason:
            finish = ch.finish_reason
check("streamed completion", "".join(parts) == "echo: stream me please", parts)
check("streamed chunks", len(parts) == 4, parts)
check("streamed finish + usage", finish == "stop" and usage is not None and usage.completion_tokens > 0, (finish, usage))

try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    check("unknown model", False, "no error")
except openai.BadRequestError as e:
    check("unknown model -> BadRequestError", e.status_code == 400, e)

r = client.responses.create(model="openclaw/default", input="hello responses")
check("responses", r.output_text == "echo: hello responses", r)
r2 = client.responses.create(model="openclaw", input="again", previous_response_id=r.id)
check("responses previous_response_id", r2.output_text == "echo: again", r2)

deltas, completed = [], None
with client.responses.stream(model="openclaw", input="streamed response") as s:
    for ev in s:
        if ev.type == "response.output_text.delta":
            deltas.append(ev.delta)
        if ev.type == "response.completed":
            completed = ev.response
check("streamed responses", "".join(deltas) == "echo: streamed response", deltas)
check("streamed responses completed", completed is not None and completed.status == "completed", completed)

e = client.embeddings.create(model="openclaw/default", input=["alpha", "beta"])
check("embeddings", len(e.data) == 2 and len(e.data[0].embedding) == 8, e)

print(f"openai-sdk: {checks}/{checks} passed")
