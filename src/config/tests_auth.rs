//! Tests: auth inference/precedence/errors, SecretRefs, startup guard texts.

use super::tests::{env_for, load_text, temp_home};
use super::*;

fn auth_err(text: &str, env: &[(&str, &str)], args: &LoadArgs) -> String {
    match load_text(text, env, args) {
        Err(ConfigError::Auth(m)) => m,
        other => panic!("expected Auth error, got {other:?}"),
    }
}

fn secret(s: &str) -> Option<Secret> {
    Some(Secret::new(s))
}

#[test]
fn no_credentials_gives_ephemeral_token() {
    let c = load_text("{}", &[], &LoadArgs::default()).unwrap();
    assert_eq!(
        (c.auth.mode, c.auth.mode_source),
        (AuthMode::Token, AuthModeSource::Default)
    );
    assert!(c.auth.token_is_ephemeral);
    let t = c.auth.token.as_ref().unwrap().expose().to_string();
    assert_eq!(t.len(), 48);
    assert!(c.auth.has_shared_secret());
    assert_eq!(format!("{:?}", c.auth.token), "Some(***)");
    // reload keeps the ephemeral token
    let home = temp_home();
    let env = env_for(&home, &[]);
    let a = load(&LoadArgs::default(), &env).unwrap();
    let b = reload_from_disk(&a, &LoadArgs::default(), &env).unwrap();
    assert_eq!(a.auth.token, b.auth.token);
}

#[test]
fn inference_and_precedence() {
    let d = LoadArgs::default();
    let c = load_text("{}", &[("OPENCLAW_GATEWAY_TOKEN", "envtok")], &d).unwrap();
    assert_eq!(
        (c.auth.mode, c.auth.mode_source),
        (AuthMode::Token, AuthModeSource::Token)
    );
    assert_eq!(c.auth.token.unwrap().expose(), "envtok");
    assert!(!c.auth.token_is_ephemeral);

    let c = load_text("{}", &[("OPENCLAW_GATEWAY_PASSWORD", "envpw")], &d).unwrap();
    assert_eq!(c.auth.mode, AuthMode::Password);
    assert_eq!(c.auth.password.unwrap().expose(), "envpw");

    // CLI > config > env (config-first, like the stock gateway)
    let text = r#"{gateway:{auth:{token:"cfgtok"}}}"#;
    let env = [("OPENCLAW_GATEWAY_TOKEN", "envtok")];
    assert_eq!(
        load_text(text, &env, &d)
            .unwrap()
            .auth
            .token
            .unwrap()
            .expose(),
        "cfgtok"
    );
    let cli = LoadArgs {
        token: secret("clitok"),
        ..Default::default()
    };
    assert_eq!(
        load_text(text, &env, &cli)
            .unwrap()
            .auth
            .token
            .unwrap()
            .expose(),
        "clitok"
    );

    // token from one source + password from another, mode unset ⇒ password wins (stock)
    let c = load_text(text, &[("OPENCLAW_GATEWAY_PASSWORD", "pw")], &d).unwrap();
    assert_eq!(c.auth.mode, AuthMode::Password);

    // --auth overrides config mode
    let cli = LoadArgs {
        auth: Some(AuthMode::None),
        ..Default::default()
    };
    let c = load_text(r#"{gateway:{auth:{mode:"token", token:"x"}}}"#, &[], &cli).unwrap();
    assert_eq!(
        (c.auth.mode, c.auth.mode_source),
        (AuthMode::None, AuthModeSource::Override)
    );
}

#[test]
fn password_file_and_secret_refs() {
    let home = temp_home();
    let pw = home.join("pw.txt");
    std::fs::write(&pw, "filepw\n").unwrap();
    let cli = LoadArgs {
        password_file: Some(pw.clone()),
        ..Default::default()
    };
    let c = load_text("{}", &[], &cli).unwrap();
    assert_eq!(
        (c.auth.mode, c.auth.password.unwrap().expose()),
        (AuthMode::Password, "filepw")
    );
    let cli = LoadArgs {
        password_file: Some(home.join("nope")),
        ..Default::default()
    };
    assert!(auth_err("{}", &[], &cli).starts_with("--password-file: cannot read"));

    let env = [("MY_TOK", "reftok")];
    let d = LoadArgs::default();
    let c = load_text(
        r#"{gateway:{auth:{token:{source:"env", id:"MY_TOK"}}}}"#,
        &env,
        &d,
    )
    .unwrap();
    assert_eq!(c.auth.token.unwrap().expose(), "reftok");
    let c = load_text(r#"{gateway:{auth:{token:{"$env":"MY_TOK"}}}}"#, &env, &d).unwrap();
    assert_eq!(c.auth.token.unwrap().expose(), "reftok");
    let c = load_text(r#"{gateway:{auth:{token:"${MY_TOK}"}}}"#, &env, &d).unwrap();
    assert_eq!(c.auth.token.unwrap().expose(), "reftok");
    let text = format!(
        r#"{{gateway:{{auth:{{mode:"password", password:{{source:"file", path:"{}"}}}}}}}}"#,
        pw.display()
    );
    assert_eq!(
        load_text(&text, &[], &d)
            .unwrap()
            .auth
            .password
            .unwrap()
            .expose(),
        "filepw"
    );

    // explicit but unresolvable ⇒ fail closed, even with an env token available
    for text in [
        r#"{gateway:{auth:{token:{source:"env", id:"NOT_SET"}}}}"#,
        r#"{gateway:{auth:{token:"${NOT_SET}"}}}"#,
        r#"{gateway:{auth:{token:{source:"file", path:"/nonexistent/tok"}}}}"#,
        r#"{gateway:{auth:{token:{source:"exec", id:"x"}}}}"#,
    ] {
        let e = auth_err(text, &[("OPENCLAW_GATEWAY_TOKEN", "t")], &d);
        assert!(
            e.starts_with(
                "gateway.auth.token is configured as a secret reference but could not be resolved"
            ),
            "{e}"
        );
    }
    // ...but a CLI token overrides the ref without resolving it
    let cli = LoadArgs {
        token: secret("c"),
        ..Default::default()
    };
    assert!(load_text(
        r#"{gateway:{auth:{token:{source:"env", id:"NOT_SET"}}}}"#,
        &[],
        &cli
    )
    .is_ok());
}

#[test]
fn auth_errors() {
    let d = LoadArgs::default();
    let e = auth_err(r#"{gateway:{auth:{token:"a", password:"b"}}}"#, &[], &d);
    assert!(e.contains("gateway.auth.token and gateway.auth.password are both configured, but gateway.auth.mode is unset"), "{e}");
    assert!(load_text(
        r#"{gateway:{auth:{mode:"token", token:"a", password:"b"}}}"#,
        &[],
        &d
    )
    .is_ok());

    let e = auth_err(r#"{gateway:{auth:{mode:"password"}}}"#, &[], &d);
    assert!(
        e.starts_with("gateway auth mode is password, but no password was configured."),
        "{e}"
    );

    let tp = r#"{gateway:{auth:{mode:"trusted-proxy", trustedProxy:{userHeader:"x-user"}}}}"#;
    let e = auth_err(tp, &[("OPENCLAW_GATEWAY_TOKEN", "t")], &d);
    assert!(
        e.starts_with("gateway auth mode is trusted-proxy, but a shared token is also configured"),
        "{e}"
    );
    let e = auth_err(
        r#"{gateway:{auth:{mode:"trusted-proxy", token:"t"}}}"#,
        &[],
        &d,
    );
    assert!(
        e.starts_with("gateway auth mode is trusted-proxy, but a shared token is also configured"),
        "{e}"
    );
    let e = auth_err(r#"{gateway:{auth:{mode:"trusted-proxy"}}}"#, &[], &d);
    assert!(e.contains("no trustedProxy config was provided"), "{e}");
    let e = auth_err(
        r#"{gateway:{auth:{mode:"trusted-proxy", trustedProxy:{userHeader:" "}}}}"#,
        &[],
        &d,
    );
    assert!(e.contains("trustedProxy.userHeader is empty"), "{e}");
    let c = load_text(tp, &[], &d).unwrap();
    assert_eq!(c.auth.trusted_proxy.as_ref().unwrap().user_header, "x-user");

    let e = auth_err(
        r#"{gateway:{auth:{mode:"token", token:"undefined"}}}"#,
        &[],
        &d,
    );
    assert!(e.starts_with("Gateway token must not be blank"), "{e}");
}

fn guard_msg(text: &str, env: &[(&str, &str)], args: &LoadArgs, allow: bool) -> Option<String> {
    let c = load_text(text, env, args).unwrap();
    match startup_guard(&c, allow) {
        Ok(()) => None,
        Err(ConfigError::StartupBlocked(m)) => Some(m),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn startup_guard_mode() {
    let d = LoadArgs::default();
    assert_eq!(
        guard_msg(r#"{gateway:{mode:"local"}}"#, &[], &d, false),
        None
    );
    let m = guard_msg(r#"{gateway:{mode:"remote"}}"#, &[], &d, false).unwrap();
    assert_eq!(m, "Gateway start blocked: set gateway.mode=local (current: remote) or pass --allow-unconfigured.");
    let m = guard_msg(r#"{gateway:{port:1}}"#, &[], &d, false).unwrap();
    assert!(
        m.starts_with("Gateway start blocked: existing config is missing gateway.mode."),
        "{m}"
    );
    assert_eq!(guard_msg(r#"{gateway:{port:1}}"#, &[], &d, true), None);

    let home = temp_home();
    let missing = load(&d, &env_for(&home, &[])).unwrap();
    let e = startup_guard(&missing, false).unwrap_err().to_string();
    assert!(
        e.starts_with("Missing config. Run `openclaw setup` or set gateway.mode=local"),
        "{e}"
    );
    assert!(startup_guard(&missing, true).is_ok());
    let dev = LoadArgs {
        dev: true,
        ..Default::default()
    };
    assert!(startup_guard(&load(&dev, &env_for(&home, &[])).unwrap(), false).is_ok());
}

#[test]
fn startup_guard_bind() {
    let d = LoadArgs::default();
    let m = guard_msg(
        r#"{gateway:{mode:"local", bind:"lan", port:18800, auth:{mode:"none"}}}"#,
        &[],
        &d,
        false,
    )
    .unwrap();
    assert!(m.starts_with("refusing to bind gateway to 0.0.0.0:18800 without auth (set gateway.auth.token/password"), "{m}");
    assert_eq!(
        guard_msg(
            r#"{gateway:{mode:"local", bind:"loopback", auth:{mode:"none"}}}"#,
            &[],
            &d,
            false
        ),
        None
    );
    assert_eq!(
        guard_msg(
            r#"{gateway:{mode:"local", bind:"lan", auth:{token:"x"}}}"#,
            &[],
            &d,
            false
        ),
        None
    );
    let m = guard_msg(r#"{gateway:{mode:"local", bind:"custom"}}"#, &[], &d, false).unwrap();
    assert_eq!(m, "gateway.bind=custom requires gateway.customBindHost");
    let tp = r#"{gateway:{mode:"local", bind:"lan", auth:{mode:"trusted-proxy", trustedProxy:{userHeader:"x-user"}}}}"#;
    let m = guard_msg(tp, &[], &d, false).unwrap();
    assert!(m.contains("requires gateway.trustedProxies"), "{m}");
}
