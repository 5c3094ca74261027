//! What the cases leave on the shared servers goes again: a database of
//! their own on PostgreSQL, their keys on Redis.

/// A database made for one case, on the server `url` names.
pub struct Database {
    admin: String,
    name: String,
    /// `url` with this database in place of its own.
    pub url: String,
}

impl Database {
    /// Makes `name` afresh on the server of `url`.
    pub async fn create(url: &str, name: &str) -> Result<Self, String> {
        let (base, _) = url
            .rsplit_once('/')
            .ok_or_else(|| format!("`{url}` names no database"))?;
        let database = Self {
            admin: url.to_owned(),
            name: name.to_owned(),
            url: format!("{base}/{name}"),
        };
        database
            .admin_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        database
            .admin_sql(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(database)
    }

    /// Drops it (a failure is printed: the server keeps it).
    pub async fn drop(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = self.admin_sql(&sql).await {
            println!("  could not drop {}: {e}", self.name);
        }
    }

    async fn admin_sql(&self, sql: &str) -> Result<(), String> {
        let (client, connection) = tokio_postgres::connect(&self.admin, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let connection = tokio::spawn(connection);
        let result = client.batch_execute(sql).await.map_err(|e| e.to_string());
        drop(client);
        let _ = connection.await;
        result
    }
}

/// Deletes every key of `url`'s database whose name contains `marker`.
pub async fn forget_redis_keys(url: &str, marker: &str) {
    let forget = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{marker}*"))
            .query_async(&mut conn)
            .await?;
        for chunk in keys.chunks(500) {
            redis::cmd("DEL")
                .arg(chunk)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok::<_, redis::RedisError>(())
    };
    if let Err(e) = forget.await {
        println!("  could not delete the keys of {marker}: {e}");
    }
}
