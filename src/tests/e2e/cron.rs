//! Automations: `cron.*` shapes, errors and events; a job firing when due on tokio's paused
//! clock; agent turns in isolated sessions; failures keeping the schedule; persistence and
//! the catch-up of runs missed while the gateway was down.

use std::time::Duration;

use serde_json::{json, Value};

use crate::agents::agent_config;
use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

fn every(name: &str, ms: u64, payload: Value, target: &str) -> Value {
    json!({
        "name": name, "schedule": { "kind": "every", "everyMs": ms },
        "sessionTarget": target, "wakeMode": "next-heartbeat", "payload": payload,
    })
}

fn event_text(text: &str) -> Value {
    json!({ "kind": "systemEvent", "text": text })
}

async fn cron_event(c: &mut Client, id: &str, action: &str) -> Value {
    let hit = |v: &Value| {
        v["event"] == "cron" && v["payload"]["jobId"] == id && v["payload"]["action"] == action
    };
    // It may have come in before the response that was awaited last.
    if let Some(i) = c.events.iter().position(hit) {
        return c.events.remove(i)["payload"].clone();
    }
    c.until(&format!("cron {action} of {id}"), hit).await["payload"].clone()
}

#[tokio::test]
async fn jobs_are_added_listed_updated_and_removed_with_events() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let job = c
        .ok(
            "cron.add",
            every("hourly", 3_600_000, event_text("check"), "main"),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let created = job["createdAtMs"].as_u64().unwrap();
    assert_eq!(
        job["schedule"],
        json!({ "kind": "every", "everyMs": 3_600_000, "anchorMs": created })
    );
    assert_eq!(
        job["state"]["nextRunAtMs"].as_u64(),
        Some(created + 3_600_000)
    );
    assert_eq!(job["nextRunAtMs"], job["state"]["nextRunAtMs"]);
    assert_eq!(job["enabled"], true);
    let added = cron_event(&mut c, &id, "added").await;
    assert_eq!(added["job"]["name"], "hourly");

    let at = c
        .ok(
            "cron.add",
            json!({
                "name": "once", "schedule": { "kind": "at", "at": "2099-01-01T00:00:00Z" },
                "sessionTarget": "isolated", "wakeMode": "now",
                "payload": { "kind": "agentTurn", "message": "later" },
            }),
        )
        .await;
    assert_eq!(at["deleteAfterRun"], true);
    assert_eq!(at["schedule"]["at"], "2099-01-01T00:00:00.000Z");

    let list = c
        .ok(
            "cron.list",
            json!({ "includeDisabled": false, "limit": 200, "offset": 0 }),
        )
        .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["jobs"][0]["id"], id, "sorted by next run");
    assert_eq!(list["hasMore"], false);
    let st = c.ok("cron.status", json!({})).await;
    assert_eq!(st["jobs"], 2);
    assert_eq!(st["nextWakeAtMs"], job["nextRunAtMs"]);

    let off = c
        .ok(
            "cron.update",
            json!({ "id": id, "patch": { "enabled": false, "name": "paused" } }),
        )
        .await;
    assert_eq!(
        (off["enabled"].as_bool(), off["name"].as_str()),
        (Some(false), Some("paused"))
    );
    assert!(off["state"]["nextRunAtMs"].is_null(), "{off}");
    cron_event(&mut c, &id, "updated").await;
    assert_eq!(
        c.ok("cron.list", json!({})).await["total"],
        1,
        "disabled jobs are hidden by default"
    );
    assert_eq!(
        c.ok("cron.list", json!({ "includeDisabled": true })).await["total"],
        2
    );

    let miss = c.call("cron.get", json!({ "id": "nope" })).await;
    assert_eq!(
        miss["error"]["details"],
        json!({ "code": "CRON_JOB_NOT_FOUND", "jobId": "nope" })
    );
    assert!(miss["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("cron job not found: nope."));
    let bad = c
        .call(
            "cron.add",
            every(
                "x",
                1000,
                json!({ "kind": "script", "script": "rm" }),
                "main",
            ),
        )
        .await;
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");
    let bad = c.call("cron.get", json!({})).await;
    assert_eq!(
        bad["error"]["message"],
        "invalid cron.get params: must have required property 'id'; \
         must have required property 'jobId'; must match a schema in anyOf"
    );

    assert_eq!(
        c.ok("cron.remove", json!({ "id": id })).await,
        json!({ "ok": true, "removed": true })
    );
    cron_event(&mut c, &id, "removed").await;
    let again = c.call("cron.remove", json!({ "jobId": id })).await;
    assert!(again["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Automation not found:"));
    // Scope table: a read-only operator cannot add.
    let (mut ro, _) = operator(g.addr, &["operator.read"]).await;
    let r = ro
        .call("cron.add", every("ro", 1000, event_text("x"), "main"))
        .await;
    assert_eq!(r["error"]["code"], "FORBIDDEN");
    g.stop().await;
}

#[tokio::test]
async fn a_job_fires_when_due_on_the_paused_clock() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let job = c
        .ok(
            "cron.add",
            every("hourly", 3_600_000, event_text("hourly check"), "main"),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    cron_event(&mut c, &id, "added").await;
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3_599)).await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    let before = g.gw.cron.get(&id).unwrap();
    assert!(
        before["state"]["lastRunAtMs"].is_null(),
        "not due yet: {before}"
    );
    assert!(before["state"]["runningAtMs"].is_null());
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    let fin = cron_event(&mut c, &id, "finished").await;
    assert_eq!(fin["status"], "ok", "{fin}");
    assert_eq!(fin["sessionKey"], "agent:main:main");
    // Every job counts its next run from the run's start.
    let run_at = fin["runAtMs"].as_u64().unwrap();
    assert_eq!(
        fin["job"]["state"]["nextRunAtMs"].as_u64(),
        Some(run_at + 3_600_000)
    );
    let runs = c.ok("cron.runs", json!({ "id": id })).await;
    assert_eq!(runs["total"], 1);
    assert_eq!(runs["entries"][0]["status"], "ok");
    assert_eq!(runs["entries"][0]["jobName"], "hourly");
    let h = c.ok("chat.history", json!({ "sessionKey": "main" })).await;
    assert!(h["messages"].to_string().contains("hourly check"), "{h}");
    g.stop().await;
}

#[tokio::test]
async fn agent_turns_run_isolated_and_a_failing_job_keeps_its_schedule() {
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = agent_config(
        &crate::agents::fake("fake", &up.openai_base(), "openai-completions"),
        &["fake/echo-1"],
    );
    let g = start_with(Setup::config(&cfg)).await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let turn = json!({ "kind": "agentTurn", "message": "summarize the day" });
    let job = c
        .ok("cron.add", every("daily", 86_400_000, turn, "isolated"))
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let next = job["nextRunAtMs"].clone();
    let r = c.ok("cron.run", json!({ "id": id, "mode": "force" })).await;
    assert_eq!(r["enqueued"], true);
    let run_id = r["runId"].as_str().unwrap().to_string();
    assert!(run_id.starts_with(&format!("manual:{id}:")), "{run_id}");
    cron_event(&mut c, &id, "started").await;
    let fin = cron_event(&mut c, &id, "finished").await;
    assert_eq!(
        (fin["status"].as_str(), fin["runId"].as_str()),
        (Some("ok"), Some(run_id.as_str()))
    );
    assert_eq!(fin["summary"], "echo: summarize the day");
    let key = fin["sessionKey"].as_str().unwrap().to_string();
    assert!(
        key.starts_with(&format!("agent:main:cron:{id}:run:")),
        "{key}"
    );
    assert_eq!(
        fin["job"]["state"]["nextRunAtMs"], next,
        "a forced run leaves the schedule"
    );
    let h = c.ok("chat.history", json!({ "sessionKey": key })).await;
    assert!(h["messages"]
        .to_string()
        .contains("echo: summarize the day"));
    let due = c.ok("cron.run", json!({ "id": id, "mode": "due" })).await;
    assert_eq!(
        (due["ran"].as_bool(), due["reason"].as_str()),
        (Some(false), Some("not-due"))
    );

    let failing = every(
        "flaky",
        86_400_000,
        json!({ "kind": "agentTurn", "message": "FAIL500" }),
        "isolated",
    );
    let bad = c.ok("cron.add", failing).await;
    let bad_id = bad["id"].as_str().unwrap().to_string();
    c.ok("cron.run", json!({ "id": bad_id })).await;
    let fin = cron_event(&mut c, &bad_id, "finished").await;
    assert_eq!(fin["status"], "error");
    assert!(fin["error"].as_str().unwrap().contains("FAIL500"), "{fin}");
    let after = c.ok("cron.get", json!({ "id": bad_id })).await;
    assert_eq!(after["state"]["consecutiveErrors"], 1);
    assert_eq!(after["enabled"], true);
    assert_eq!(
        after["nextRunAtMs"], bad["nextRunAtMs"],
        "it keeps its schedule"
    );
    let errors = c
        .ok("cron.runs", json!({ "scope": "all", "status": "error" }))
        .await;
    assert_eq!(errors["total"], 1);
    assert_eq!(errors["entries"][0]["jobId"], bad_id);
    g.stop().await;
}

#[tokio::test]
async fn jobs_survive_a_restart_and_a_missed_run_runs_once() {
    let g = start().await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    let job = c
        .ok(
            "cron.add",
            every("daily", 86_400_000, event_text("missed me"), "main"),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let dir = g.stop().await;
    // The gateway was down when the run was due: move the stored next run into the past.
    let db = rusqlite::Connection::open(dir.join("state/state/cron.sqlite")).unwrap();
    let stored: String = db
        .query_row("SELECT job FROM cron_jobs WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    let mut v: Value = serde_json::from_str(&stored).unwrap();
    v["state"]["nextRunAtMs"] = json!(openclaw::clock::now_ms() - 60_000);
    db.execute(
        "UPDATE cron_jobs SET job = ?1 WHERE id = ?2",
        rusqlite::params![v.to_string(), id],
    )
    .unwrap();
    drop(db);

    let g = start_with(Setup {
        dir: Some(dir),
        ..Setup::default()
    })
    .await;
    let (mut c, _) = operator(g.addr, ALL_SCOPES).await;
    // The catch-up starts with the gateway, before any client could subscribe: ask until
    // its run is logged (bounded like every wait).
    let entry = within(WAIT, "the caught-up run in cron.runs", async {
        loop {
            let r = c.ok("cron.runs", json!({ "id": id })).await;
            if r["total"] == 1 {
                return r["entries"][0].clone();
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(entry["status"], "ok", "{entry}");
    let got = c.ok("cron.get", json!({ "id": id })).await;
    assert_eq!(got["name"], "daily", "the job came back from the store");
    let last = got["state"]["lastRunAtMs"].as_u64().unwrap();
    assert_eq!(
        got["nextRunAtMs"].as_u64(),
        Some(last + 86_400_000),
        "once, then on schedule"
    );
    assert_eq!(c.ok("cron.runs", json!({ "id": id })).await["total"], 1);
    g.stop().await;
}
