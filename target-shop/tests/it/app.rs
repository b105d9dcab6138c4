//! `start_world`: fixtures' `World` (the stack and the migrated template) for the run. `TestApp`:
//! one shop per test on its own cloned database and Redis prefix, with a client and direct access to
//! its database.

use std::net::SocketAddr;
use std::time::Duration;

use fixtures::world::{World, WorldConfig};
use serde_json::Value;
use target_shop::auth::password;
use target_shop::{AppState, Config};

/// The stack the environment asks for (`SHOPLOAD_PROVIDER`, default auto), as `cargo xtask up`
/// would start it, and the shop's migrations in a template database.
pub async fn start_world() -> Result<World, String> {
    let config = WorldConfig::from_lookup(
        "target-shop's tests",
        "shop_template",
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stacks"),
        |name| std::env::var(name).ok(),
    )?;
    World::start(&config, |url| async move {
        let pool = sqlx::PgPool::connect(&url).await?;
        target_shop::MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok::<(), anyhow::Error>(())
    })
    .await
}

pub struct TestApp {
    pub config: Config,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub database_url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn(world: &World) -> Self {
        let database_url = world.template.fresh().await.expect("a fresh database");
        let mut config = Config::new(&database_url, &world.redis_url);
        config.redis_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        config.pool_size = 5;
        Self::serve(config).await
    }

    /// The same database and Redis prefix, served by a shop with these faults switched on.
    pub async fn with_faults(self, faults: &[&str]) -> Self {
        let faults = target_shop::faults::Faults::parse(faults.iter().copied()).unwrap();
        self.with_config(|config| config.faults = faults).await
    }

    /// The same database and Redis prefix, served by a shop with its configuration changed.
    pub async fn with_config(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.config.clone();
        change(&mut config);
        drop(self);
        Self::serve(config).await
    }

    async fn serve(config: Config) -> Self {
        let database_url = config.database_url.clone();
        let state = AppState::connect(&config).await.expect("shop state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(target_shop::serve_state(
            state.clone(),
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            config,
            addr,
            client,
            state,
            database_url,
            _shutdown: shutdown,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A user with a 1,000-iteration Django hash (fast to verify; any count verifies).
    pub async fn create_user(&self, username: &str, password_text: &str, active: bool) -> i32 {
        let hash = password::make(password_text, &password::salt(&mut rand::rng()), 1000);
        let id: i32 = sqlx::query_scalar(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                                    is_staff, is_active, date_joined)
             VALUES ($1, false, $2, '', '', $3, false, $4, now()) RETURNING id",
        )
        .bind(hash)
        .bind(username)
        .bind(format!("{username}@example.com"))
        .bind(active)
        .fetch_one(&self.state.db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO accounts_profile (user_id, email_verified, points) VALUES ($1, true, 0)",
        )
        .bind(id)
        .execute(&self.state.db)
        .await
        .unwrap();
        id
    }

    /// Logs in and returns `(refresh, access)`.
    pub async fn login(&self, username: &str, password_text: &str) -> (String, String) {
        let response = self
            .post_json(
                "/api/auth/login/",
                &serde_json::json!({"username": username, "password": password_text}),
            )
            .await;
        assert_eq!(response.status, 200, "login: {}", response.text);
        let body = response.json();
        (
            body["refresh"].as_str().unwrap().to_string(),
            body["access"].as_str().unwrap().to_string(),
        )
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        Reply::of(
            self.client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A request with a JSON body and a bearer token.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::of(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Reply::of(request.send().await.unwrap()).await
    }
}

/// A response read whole: status, headers, body text.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub async fn of(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Self {
            status,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// Status and exact body.
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!((self.status, self.text.as_str()), (status, body));
    }
}
