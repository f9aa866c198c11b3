//! The change feed in cluster mode: a reader on one instance follows a document typed into
//! on every instance, since the feed reads the shared log, not its own instance's rooms.

use crate::kit::{cluster::*, feed::*, *};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_on_one_instance_sees_commits_made_on_the_others() {
    let cluster = Cluster::start("feed", 2, &[]).await;
    let mut feed = Stream::open(
        &cluster.http(1, "/api/documents/shared/changes?after=0"),
        None,
    )
    .await
    .unwrap();
    let mut on0 = Client::connect(&cluster.ws(0, "shared")).await;
    let mut on1 = Client::connect(&cluster.ws(1, "shared")).await;
    for round in 0..5 {
        on0.append(&format!("a{round} ")).await;
        on1.append(&format!("b{round} ")).await;
    }
    let text = converge(&mut [on0, on1], CLUSTER_WAIT).await;
    let mut seen = Rebuilt::default();
    feed.follow_until(&mut seen, |r| r.string().len() >= text.len())
        .await;
    assert_eq!(seen.string(), text);
    assert_eq!(seen.ids.len(), 10, "one event per change: {:?}", seen.ids);
    seen.assert_once_each();
}
