//! The official `openai` Python SDK (PyPI) drives our gateway against the scripted upstream:
//! models list/retrieve, wrong key, chat completion (plain and streamed with usage), unknown
//! model, responses (plain, chained, streamed), embeddings. CI installs the SDK and sets
//! `OPENCLAW_TEST_PYTHON`; without an SDK the test fails under CI and is skipped (loudly)
//! on a developer machine.

use std::path::PathBuf;
use std::process::Stdio;

use crate::upstream::{Upstream, UpstreamOpts};
use crate::util::*;

fn python() -> Option<String> {
    let py = std::env::var("OPENCLAW_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&py)
        .args(["-c", "import openai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

#[tokio::test]
async fn the_official_python_sdk_works_unchanged() {
    let Some(py) = python() else {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("OPENCLAW_TEST_PYTHON").is_none(),
            "the openai Python SDK is required in CI (set OPENCLAW_TEST_PYTHON)"
        );
        eprintln!("SKIPPED: python `openai` SDK not installed (pip install openai)");
        return;
    };
    let up = Upstream::start(UpstreamOpts::default()).await;
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }},
  http: {{ endpoints: {{ chatCompletions: {{ enabled: true }}, responses: {{ enabled: true }} }} }} }},
  models: {{ providers: {{ fake: {{ baseUrl: "{}", apiKey: "k", api: "openai-completions", models: [{{ id: "echo-1" }}] }} }} }},
  agents: {{ defaults: {{ model: "fake/echo-1" }} }} }}"#,
        up.openai_base()
    );
    let gw = start_with(Setup::config(&cfg)).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/tests/sdk/openai_sdk.py");
    let run = tokio::process::Command::new(py)
        .arg(script)
        .env("OPENCLAW_BASE_URL", format!("{}/v1", gw.http()))
        .env("OPENCLAW_TOKEN", TOKEN)
        .kill_on_drop(true)
        .output();
    let out = bounded("the SDK script", run).await.expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("openai-sdk: 14/14 passed"), "{stdout}");
    gw.stop().await;
}
