//! One HTTP delivery: a signed POST to the endpoint's URL, with a timeout, no redirects,
//! no proxy from the environment, and only addresses the [`AddressPolicy`] admits.

use std::{net::IpAddr, sync::Arc, time::Duration};

use tokio::time::Instant;

use super::{
    signing,
    ssrf::{AddressPolicy, GuardedResolver},
};

/// What one attempt came to.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub took: Duration,
}

impl Answer {
    pub(crate) fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 410 Gone: the receiver asks not to be sent anything more.
    pub(crate) fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// The HTTP client shared by every delivery.
#[derive(Clone)]
pub(crate) struct Sender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl Sender {
    pub(crate) fn new(policy: AddressPolicy, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .user_agent(concat!("tandem-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender { client, policy })
    }

    pub(crate) fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Signs `body` as message `id` with each of `secrets` (two during a key rotation) and
    /// posts it; never panics, every failure is an answer.
    pub(crate) async fn send(&self, url: &str, secrets: &[String], id: &str, body: &str) -> Answer {
        let started = Instant::now();
        let result = self.try_send(url, secrets, id, body).await;
        let took = started.elapsed();
        match result {
            Ok(status) => Answer {
                status: Some(status),
                error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
                took,
            },
            Err(error) => Answer {
                status: None,
                error: Some(error),
                took,
            },
        }
    }

    async fn try_send(
        &self,
        url: &str,
        secrets: &[String],
        id: &str,
        body: &str,
    ) -> Result<u16, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
        // A literal address is connected to without the resolver: check it here.
        if let Some(host) = url.host_str() {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                self.policy
                    .check(ip)
                    .map_err(|kind| format!("refused: {ip} is a {kind} address"))?;
            }
        }
        let timestamp = chrono::Utc::now().timestamp();
        let mut signatures = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let key = signing::secret_key(secret).map_err(|e| e.to_string())?;
            signatures.push(signing::sign(&key, id, timestamp, body));
        }
        let signature = signatures.join(" ");
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .map_err(describe)?;
        Ok(response.status().as_u16())
    }
}

/// reqwest's error with its causes (the resolver's refusal is a cause of "error sending").
fn describe(err: reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
