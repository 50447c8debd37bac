//! The session store against a real SQLite file: appends, queues, replies, resets and
//! deletes survive a reopen; reads see writes queued before them.

use super::*;
use serde_json::json;

#[tokio::test]
async fn append_queue_activate_assistant_reset_delete_survive_reopen() {
    let dir = std::env::temp_dir().join(format!("oc-sess-{}", uuid::Uuid::new_v4()));
    let path = dir.join("s.sqlite");
    let s = SessionStore::open(&path).unwrap();
    let a = s
        .append(
            "k",
            "main",
            Some("r1"),
            &json!({"role":"user","content":"hi"}),
            false,
        )
        .await
        .unwrap();
    assert!(a.created);
    assert_eq!(a.seq, Some(1));
    let q = s
        .append(
            "k",
            "main",
            Some("r2"),
            &json!({"role":"user","content":"two"}),
            true,
        )
        .await
        .unwrap();
    assert_eq!(q.seq, None);
    s.assistant(
        "k",
        "main",
        "r1",
        &json!({"role":"assistant","content":[{"type":"text","text":"par"}]}),
        None,
        false,
    )
    .await
    .unwrap();
    s.assistant(
        "k",
        "main",
        "r1",
        &json!({"role":"assistant","content":[{"type":"text","text":"partial done"}]}),
        Some(RunTotals {
            provider: "p".into(),
            model: "m".into(),
            input_tokens: 3,
            output_tokens: 2,
        }),
        true,
    )
    .await
    .unwrap();
    assert_eq!(s.activate(q.id, "k").await.unwrap(), 3);
    assert_eq!(s.count(), 1);
    drop(s);
    let s = SessionStore::open(&path).unwrap();
    let sid = a.session_id.clone();
    let (rows, total) = s.read(move |c| transcript(c, &sid, 10, 0)).await.unwrap();
    assert_eq!(total, 3);
    let texts: Vec<String> = rows.iter().map(|r| body_text(&r.body)).collect();
    assert_eq!(texts, ["hi", "partial done", "two"]);
    let row = s.read(|c| get_session(c, "k")).await.unwrap().unwrap();
    assert_eq!(
        (row.input_tokens, row.output_tokens, row.message_count),
        (3, 2, 3)
    );
    let new_sid = s.reset("k").await.unwrap().unwrap();
    assert_ne!(new_sid, a.session_id);
    let (rows, _) = s
        .read(move |c| transcript(c, &new_sid, 10, 0))
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert!(s.delete("k").await.unwrap());
    assert!(!s.delete("k").await.unwrap());
    assert_eq!(s.count(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_read_waits_for_writes_queued_before_it() {
    let dir = std::env::temp_dir().join(format!("oc-sess-{}", uuid::Uuid::new_v4()));
    let path = dir.join("s.sqlite");
    let s = SessionStore::open(&path).unwrap();
    // Another connection holds the write lock: the writer cannot commit until it lets go.
    let lock = crate::store::open_wal(&path).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = json!({"role": "assistant", "content": [{"type": "text", "text": "late"}]});
    s.assistant("k", "main", "r1", &body, None, false)
        .await
        .unwrap();
    let reader = s.clone();
    let mut read = tokio::spawn(async move { reader.session("k").await });
    // Without the wait the read would answer at once, from before the write.
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut read).await;
    assert!(
        early.is_err(),
        "the read answered before the write committed"
    );
    lock.execute_batch("COMMIT").unwrap();
    let row = read
        .await
        .unwrap()
        .unwrap()
        .expect("the queued row is seen");
    assert_eq!(row.last_preview.as_deref(), Some("late"));
    let _ = std::fs::remove_dir_all(dir);
}
