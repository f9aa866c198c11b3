//! Throwaway PostgreSQL databases, on the server named by `TANDEM_TEST_PG_URL` (default: the
//! local one). Tests fail loudly when it is unreachable: the README's test command always
//! provides one, and a test that skipped silently would hide the PostgreSQL backend.

use sqlx::Connection;

/// The admin URL used when `TANDEM_TEST_PG_URL` is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// An URL on the test server that may `CREATE DATABASE`.
pub fn admin_url() -> String {
    std::env::var("TANDEM_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// A throwaway database, dropped (with any connections still open) when this goes away,
/// also when the test fails.
pub struct TestDatabase {
    /// Where to connect: the admin URL with this database's name.
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a database named after `tag` (letters, digits and `_`, so that it needs no
    /// quoting) and a random suffix, so that concurrent tests never share one.
    pub async fn create(tag: &str) -> TestDatabase {
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {admin} is unreachable ({e}); run the tests through \
                 ./scripts/test.sh or set TANDEM_TEST_PG_URL to an admin URL that can \
                 CREATE DATABASE"
                )
            });
        let name = format!("tandem_{tag}_{:016x}", rand::random::<u64>());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin}: {e}"));
        let _ = conn.close().await;
        TestDatabase {
            url: with_database(&admin, &name),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        // Drop may run inside a runtime (which must not block) or during a panic: the
        // cleanup gets its own thread and runtime. FORCE ends connections still open.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// The same server and credentials (and query parameters), another database.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t2"), "postgres://h/t2");
    }
}
