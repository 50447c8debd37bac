//! Serving a Control UI build the way the Node gateway serves its own: the app shell for any
//! route with absolute, base-path asset URLs (deep links and reloads keep working), files or
//! 404 (never the shell for a missing asset), precompressed siblings when accepted, and
//! hello-ok saying where the UI comes from.

use serde_json::json;

use crate::util::*;

const SHELL: &str = r#"<!doctype html>
<html data-openclaw-control-ui-build-id="b7" lang="en"><head>
<link rel="icon" href="./favicon.svg" />
<script type="module" crossorigin src="./assets/app.js"></script>
</head><body></body></html>"#;

async fn gateway(base: &str) -> TestGateway {
    let dir = temp_dir("control-ui");
    let root = dir.join("ui");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(root.join("index.html"), SHELL).unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(root.join("assets/app.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("assets/app.js.br"), [0x8bu8, 0x01, 0x80]).unwrap();
    let cfg = format!(
        r#"{{ gateway: {{ mode: "local", auth: {{ mode: "token" }}, controlUi: {{ root: {}, basePath: "{base}" }} }} }}"#,
        json!(root.display().to_string())
    );
    start_with(Setup {
        dir: Some(dir),
        ..Setup::config(&cfg)
    })
    .await
}

async fn get(
    g: &TestGateway,
    path: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = http_client().get(format!("{}{path}", g.http()));
    if let Some(a) = accept {
        r = r.header("accept-encoding", a);
    }
    let resp = bounded("a Control UI response", r.send()).await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let body = bounded("its body", resp.bytes()).await.unwrap().to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn deep_links_get_the_shell_with_absolute_asset_urls() {
    for base in ["", "/console"] {
        let g = gateway(base).await;
        for route in ["/", "/chat", "/settings/about"] {
            let (status, h, body) = get(&g, &format!("{base}{route}"), None).await;
            let html = String::from_utf8(body).unwrap();
            assert_eq!(status, 200, "{base}{route}");
            assert_eq!(h["content-type"], "text/html; charset=utf-8");
            assert_eq!(h["cache-control"], "no-cache");
            assert!(
                html.contains(&format!(r#"<html data-openclaw-control-ui-base-path="{base}" data-openclaw-control-ui-build-id="b7""#)),
                "{html}"
            );
            assert!(
                html.contains(&format!(r#"src="{base}/assets/app.js""#)),
                "{html}"
            );
            assert!(
                html.contains(&format!(r#"href="{base}/favicon.svg?v=b7""#)),
                "{html}"
            );
        }
        // A file that is not there is a 404, never the shell (a module must not come back as HTML).
        for missing in ["/assets/gone.js", "/settings/gone.js"] {
            let (status, _, body) = get(&g, &format!("{base}{missing}"), None).await;
            assert_eq!(
                status,
                404,
                "{base}{missing}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        g.stop().await;
    }
}

#[tokio::test]
async fn precompressed_assets_when_accepted_and_hello_names_the_ui_source() {
    let g = gateway("").await;
    let (status, h, body) = get(&g, "/assets/app.js", Some("gzip, deflate, br")).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-encoding"], "br");
    assert_eq!(h["vary"], "Accept-Encoding");
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(body, [0x8b, 0x01, 0x80]);
    let (_, h, body) = get(&g, "/assets/app.js", Some("gzip")).await;
    assert!(h.get("content-encoding").is_none(), "no .gz sibling: plain");
    assert_eq!(body, b"console.log(1)");
    let (_, hello) = operator(g.addr, &["operator.read"]).await;
    assert_eq!(hello["server"]["controlUiBuildSource"], "configured");
    g.stop().await;
    // Without a configured build there is no UI source to name.
    let plain = start().await;
    let (_, hello) = operator(plain.addr, &["operator.read"]).await;
    assert!(
        hello["server"].get("controlUiBuildSource").is_none(),
        "{hello}"
    );
    plain.stop().await;
}

#[tokio::test]
async fn the_ui_config_document_needs_the_gateway_token() {
    let g = gateway("/console").await;
    let url = format!("{}/console/control-ui-config.json", g.http());
    let r = bounded("config without a token", http_client().get(&url).send())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: serde_json::Value = bounded("its body", r.json()).await.unwrap();
    assert_eq!(v["error"]["type"], "unauthorized");
    let r = bounded(
        "config with the token",
        http_client().get(&url).bearer_auth(TOKEN).send(),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = bounded("its body", r.json()).await.unwrap();
    assert_eq!(v["basePath"], "/console");
    assert_eq!(
        (v["assistantAgentId"].as_str(), v["assistantName"].as_str()),
        (Some("main"), Some("Assistant"))
    );
    assert_eq!(v["serverBuildId"], g.gw.boot.build_id);
    assert_eq!(
        (
            v["terminalEnabled"].as_bool(),
            v["cliAgentsEnabled"].as_bool()
        ),
        (Some(false), Some(false))
    );
    // The stock UI asks with the token its paired device was issued at `connect`.
    let dev = crate::device_key::Device::new();
    let device_token = crate::devices::pair(g.addr, &dev).await["auth"]["deviceToken"]
        .as_str()
        .expect("a paired device gets a token")
        .to_string();
    let with = |t: &str| http_client().get(&url).bearer_auth(t.to_string()).send();
    let r = bounded("config with the device token", with(&device_token))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = bounded("config with another token", with("not-a-device-token"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    g.stop().await;
}
