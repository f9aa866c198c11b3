//! `tandem webhooks add|list|remove|test`: the admin API of a running server, from the
//! command line (the server checks the URL, makes the secret and stores the endpoint).

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::webhook_config::{WebhooksAction, WebhooksCommand};

pub async fn run(cmd: WebhooksCommand) -> anyhow::Result<()> {
    let base = cmd.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder().no_proxy().build()?;
    let auth = |req: reqwest::RequestBuilder| match &cmd.admin_key {
        Some(key) => req.bearer_auth(key),
        None => req,
    };
    let request = match &cmd.action {
        WebhooksAction::Add {
            url,
            prefix,
            doc,
            events,
            secret,
        } => {
            let mut body = json!({ "url": url });
            if let Some(p) = prefix {
                body["prefix"] = json!(p);
            }
            if let Some(d) = doc {
                body["doc"] = json!(d);
            }
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(s) = secret {
                body["secret"] = json!(s);
            }
            client.post(format!("{base}/api/webhooks")).json(&body)
        }
        WebhooksAction::List => client.get(format!("{base}/api/webhooks")),
        WebhooksAction::Remove { id } => client.delete(format!("{base}/api/webhooks/{id}")),
        WebhooksAction::Test { id } => client.post(format!("{base}/api/webhooks/{id}/test")),
        WebhooksAction::Rotate { id, keep_old_secs } => {
            let mut body = json!({});
            if let Some(secs) = keep_old_secs {
                body["keep_old_secs"] = json!(secs);
            }
            client
                .post(format!("{base}/api/webhooks/{id}/rotate"))
                .json(&body)
        }
    };
    let response = auth(request)
        .send()
        .await
        .with_context(|| format!("reaching the server at {base}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let why = value["error"].as_str().unwrap_or(text.as_str());
        bail!("the server answered {status}: {why}");
    }
    match (&cmd.action, &value) {
        (WebhooksAction::Remove { id }, _) => println!("removed endpoint {id}"),
        (_, Value::Null) => {}
        (_, v) => println!("{}", serde_json::to_string_pretty(v)?),
    }
    Ok(())
}
