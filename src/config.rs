//! Configuration, read once at the edge: an optional TOML file, then environment variables and flags on top.
//!
//! Library crates never read the environment; they receive the plain structs built here. Everything is
//! validated before a port is bound, so a bad configuration fails at startup with a message naming the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{AuthConfig, HmacAlgorithm, HmacConfig, SignatureEncoding};

/// The whole server configuration, as the TOML file spells it. Every field has an embedded default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (default `127.0.0.1:3000`).
    pub listen: SocketAddr,
    /// This instance among the instances sharing a store.
    pub server: ServerConfig,
    /// Log output format.
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes (default 16 MiB: end-of-call reports can exceed 2 MiB).
    pub max_body_bytes: usize,
    /// How webhooks authenticate.
    pub auth: AuthConfig,
    /// Connection and request limits of every server the binary runs.
    pub http: crate::http::HttpConfig,
    /// The admin API.
    pub admin: AdminConfig,
    /// Answers for message types that need one.
    pub answers: AnswersConfig,
    /// Rules answering `assistant-request`, `transfer-destination-request` and `handoff-destination-request`.
    pub routing: routing::RoutingConfig,
    /// Call actors: caps on each call's state, idle retirement, live-call limit.
    pub calls: call_runtime::RuntimeConfig,
    /// The shared store for several instances; without it calls live in this process's memory.
    pub redis: Option<call_runtime::RedisConfig>,
    /// How long stored calls, reports and conversation memory live, and how much the stores hold.
    pub retention: call_runtime::RetentionConfig,
    /// Tools that answer `tool-calls`.
    pub tools: crate::tools::ToolsConfig,
    /// The knowledge base that answers `knowledge-base-request` (a folder of Markdown and text).
    pub knowledge: knowledge::KnowledgeConfig,
    /// Alerts sent on `hang`.
    pub alerts: crate::alert::AlertsConfig,
    /// Vapi's Live Call Control: where async tool results go, and which control URLs are allowed.
    pub control: crate::control::ControlConfig,
    /// The telephony bridge that carries out `phone-call-control` requests.
    pub telephony: crate::control::TelephonyConfig,
    /// The custom voice server (`voice-request`, `POST /voice`).
    pub voice: voice::VoiceConfig,
    /// The smart endpointing server (`call.endpointing.request`, `POST /endpointing`).
    pub endpointing: endpointing::EndpointingConfig,
    /// The live call monitor's event bus (`GET /monitor/events`).
    pub monitor: crate::monitor::MonitorConfig,
    /// The folder relative paths in the file (assistant JSON files) are read from: the file's own folder.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            server: ServerConfig::default(),
            log_format: LogFormat::Text,
            max_body_bytes: 16 * 1024 * 1024,
            auth: AuthConfig::None,
            http: crate::http::HttpConfig::default(),
            admin: AdminConfig::default(),
            answers: AnswersConfig::default(),
            routing: routing::RoutingConfig::default(),
            calls: call_runtime::RuntimeConfig::default(),
            redis: None,
            retention: call_runtime::RetentionConfig::default(),
            tools: crate::tools::ToolsConfig::default(),
            knowledge: knowledge::KnowledgeConfig::default(),
            alerts: crate::alert::AlertsConfig::default(),
            control: crate::control::ControlConfig::default(),
            telephony: crate::control::TelephonyConfig::default(),
            voice: voice::VoiceConfig::default(),
            endpointing: endpointing::EndpointingConfig::default(),
            monitor: crate::monitor::MonitorConfig::default(),
            base_dir: PathBuf::from("."),
        }
    }
}

/// This instance among the instances sharing a store (`[server]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The instance id shown in logs, metrics (`switchboard_instance_info`), `/calls` and `/readyz`. Default:
    /// the host name and a random suffix, new at every start.
    pub instance_id: Option<String>,
    /// How often the instance publishes its live calls to a shared store (default 5 s).
    pub heartbeat_seconds: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            instance_id: None,
            heartbeat_seconds: 5.0,
        }
    }
}

impl ServerConfig {
    /// The runtime's instance: the configured id, or a generated one.
    pub fn instance(&self) -> call_runtime::InstanceConfig {
        let mut instance = match &self.instance_id {
            Some(id) => call_runtime::InstanceConfig::named(id.clone()),
            None => call_runtime::InstanceConfig::default(),
        };
        instance.heartbeat = std::time::Duration::try_from_secs_f64(self.heartbeat_seconds).unwrap_or_default();
        instance
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The admin API (`/calls`), which exposes conversation contents: personal data.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The token admin requests must carry. Without one a random token is generated at start and printed
    /// once, with a URL that opens the admin API.
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Answers for the message types that no rule, tool or knowledge base decides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswersConfig {
    /// The answer to `campaign.predial` (default: eligible).
    pub campaign_eligible: Option<bool>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said, naming the key.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Flags and environment variables of `switchboard serve`. Each overrides the file's value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "SWITCHBOARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Log format [default: text].
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest accepted request body, in bytes [default: 16777216].
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// How webhooks authenticate.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Redis URL (`redis://[user:password@]host:port/db`, `rediss://` for TLS): share calls between instances.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Seed nodes of a Redis Cluster, comma-separated (`redis://host:port,redis://host2:port`): share calls
    /// between instances through the cluster. Replaces `--redis-url`.
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_CLUSTER_URLS",
        hide_env_values = true,
        value_delimiter = ',',
        conflicts_with = "redis_url"
    )]
    pub redis_cluster_urls: Option<Vec<String>>,
    /// This instance's id [default: the host name and a random suffix].
    #[arg(long, env = "SWITCHBOARD_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Folder of Markdown and text documents for `knowledge-base-request`.
    #[arg(long, env = "SWITCHBOARD_KNOWLEDGE_DIR")]
    pub knowledge_dir: Option<PathBuf>,
    /// Token for the admin API; without one a random token is generated at start and printed once.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// Authentication flags and environment variables, shared by every command that serves.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// Require `X-Vapi-Secret: <value>` on every webhook.
    #[arg(long, env = "SWITCHBOARD_VAPI_SECRET", hide_env_values = true, conflicts_with_all = ["bearer_token", "hmac_secret"])]
    pub vapi_secret: Option<String>,
    /// Require a bearer token on every webhook.
    #[arg(
        long,
        env = "SWITCHBOARD_BEARER_TOKEN",
        hide_env_values = true,
        conflicts_with = "hmac_secret"
    )]
    pub bearer_token: Option<String>,
    /// The header carrying the bearer token [default: authorization].
    #[arg(long, env = "SWITCHBOARD_BEARER_HEADER", requires = "bearer_token")]
    pub bearer_header: Option<String>,
    /// Require an HMAC signature (by default x-signature = hex HMAC-SHA256 over "{x-timestamp}.{body}") on every
    /// webhook. The other HMAC settings come from `[auth]` in the config file or the flags below.
    #[arg(long, env = "SWITCHBOARD_HMAC_SECRET", hide_env_values = true)]
    pub hmac_secret: Option<String>,
    /// HMAC hash function [default: sha256].
    #[arg(long, env = "SWITCHBOARD_HMAC_ALGORITHM", value_enum, requires = "hmac_secret")]
    pub hmac_algorithm: Option<HmacAlgorithm>,
    /// How the HMAC signature is encoded [default: hex].
    #[arg(long, env = "SWITCHBOARD_HMAC_ENCODING", value_enum, requires = "hmac_secret")]
    pub hmac_encoding: Option<SignatureEncoding>,
    /// What the HMAC signs, e.g. "{body}" [default: "{timestamp}.{body}"].
    #[arg(long, env = "SWITCHBOARD_HMAC_PAYLOAD_FORMAT", requires = "hmac_secret")]
    pub hmac_payload_format: Option<String>,
    /// A prefix before the signature, e.g. "sha256=".
    #[arg(long, env = "SWITCHBOARD_HMAC_SIGNATURE_PREFIX", requires = "hmac_secret")]
    pub hmac_signature_prefix: Option<String>,
    /// The header carrying the signature [default: x-signature].
    #[arg(long, env = "SWITCHBOARD_HMAC_SIGNATURE_HEADER", requires = "hmac_secret")]
    pub hmac_signature_header: Option<String>,
}

impl AuthArgs {
    /// Puts the flags over `auth` (the file's value).
    pub fn apply(&self, auth: &mut AuthConfig) {
        if let Some(secret) = &self.vapi_secret {
            *auth = AuthConfig::Secret { secret: secret.clone() };
        }
        if let Some(token) = &self.bearer_token {
            *auth = AuthConfig::Bearer {
                token: token.clone(),
                header: self.bearer_header.clone().unwrap_or_else(|| "authorization".into()),
            };
        }
        if let Some(secret) = &self.hmac_secret {
            // The file's other HMAC settings stay; the flags replace the ones they name.
            let mut hmac = match auth {
                AuthConfig::Hmac(hmac) => hmac.clone(),
                _ => HmacConfig::default(),
            };
            hmac.secret = secret.clone();
            if let Some(algorithm) = self.hmac_algorithm {
                hmac.algorithm = algorithm;
            }
            if let Some(encoding) = self.hmac_encoding {
                hmac.signature_encoding = encoding;
            }
            if let Some(format) = &self.hmac_payload_format {
                hmac.payload_format = Some(format.clone());
            }
            if let Some(prefix) = &self.hmac_signature_prefix {
                hmac.signature_prefix = Some(prefix.clone());
            }
            if let Some(header) = &self.hmac_signature_header {
                hmac.signature_header = header.clone();
            }
            *auth = AuthConfig::Hmac(hmac);
        }
    }
}

impl Config {
    /// Reads the file named by `args` (if any), applies the flags and environment on top, and validates.
    pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
        let mut config = match &args.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply(args);
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        // `assistant_file`s are read from the file's own folder.
        config.base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(config)
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        if let Ok(table) = toml::from_str::<toml::Table>(text) {
            moved_keys(&table)?;
        }
        toml::from_str(text).map_err(|error| error.to_string().trim_end().to_string())
    }

    fn apply(&mut self, args: &ServeArgs) {
        if let Some(listen) = args.listen {
            self.listen = listen;
        }
        if let Some(format) = args.log_format {
            self.log_format = format;
        }
        if let Some(bytes) = args.max_body_bytes {
            self.max_body_bytes = bytes;
        }
        args.auth.apply(&mut self.auth);
        if let Some(url) = &args.redis_url {
            let redis = self.redis.get_or_insert_with(Default::default);
            redis.url = url.clone();
            redis.cluster_urls.clear();
        }
        if let Some(urls) = &args.redis_cluster_urls {
            let redis = self.redis.get_or_insert_with(Default::default);
            redis.cluster_urls = urls.iter().map(|url| url.trim().to_string()).collect();
            redis.url.clear();
        }
        if let Some(id) = &args.instance_id {
            self.server.instance_id = Some(id.clone());
        }
        if let Some(dir) = &args.knowledge_dir {
            self.knowledge.dir = Some(dir.clone());
        }
        if let Some(token) = &args.admin_token {
            self.admin.token = Some(token.clone());
        }
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(format!(
                "max_body_bytes must be at least 1024, got {}",
                self.max_body_bytes
            )));
        }
        self.auth.validate().map_err(ConfigError::Invalid)?;
        self.http.validate().map_err(ConfigError::Invalid)?;
        self.calls.validate().map_err(ConfigError::Invalid)?;
        self.retention.validate().map_err(ConfigError::Invalid)?;
        if self.redis.is_none() && self.retention.max_stored_calls < self.calls.max_live_calls {
            // Otherwise live calls push each other's records out and re-seed them over and over.
            return Err(ConfigError::Invalid(format!(
                "retention.max_stored_calls ({}) must be at least calls.max_live_calls ({})",
                self.retention.max_stored_calls, self.calls.max_live_calls
            )));
        }
        self.tools.validate().map_err(ConfigError::Invalid)?;
        self.server.instance().validate().map_err(ConfigError::Invalid)?;
        if let Some(redis) = &self.redis {
            redis.validate().map_err(ConfigError::Invalid)?;
        }
        self.knowledge
            .validate()
            .map_err(|error| ConfigError::Invalid(format!("knowledge: {error}")))?;
        self.alerts.validate().map_err(ConfigError::Invalid)?;
        self.control.validate().map_err(ConfigError::Invalid)?;
        self.telephony.validate().map_err(ConfigError::Invalid)?;
        self.monitor.validate().map_err(ConfigError::Invalid)?;
        self.voice
            .validate()
            .map_err(|error| ConfigError::Invalid(format!("voice: {error}")))?;
        self.endpointing
            .validate()
            .map_err(|error| ConfigError::Invalid(format!("endpointing: {error}")))?;
        if self.admin.token.as_deref() == Some("") {
            return Err(ConfigError::Invalid("admin.token must not be empty".into()));
        }
        Ok(())
    }
}

/// Keys that moved to another table: an error naming the new place, rather than serde's "unknown field".
fn moved_keys(table: &toml::Table) -> Result<(), String> {
    let knowledge = table.get("knowledge").and_then(toml::Value::as_table);
    if knowledge.is_some_and(|knowledge| knowledge.contains_key("meaning")) {
        return Err(
            "`knowledge.meaning` is gone: to rank by meaning as well as words, run scripts/install-encoder \
                    and set `encoder = \".models/all-MiniLM-L6-v2\"` under `[knowledge]`; to rank by words alone, \
                    delete the line"
                .into(),
        );
    }
    let Some(redis) = table.get("redis").and_then(toml::Value::as_table) else {
        return Ok(());
    };
    for key in ["call_ttl_seconds", "report_ttl_seconds", "conversation_ttl_seconds"] {
        if redis.contains_key(key) {
            return Err(format!(
                "`redis.{key}` has moved: set `{key}` under `[retention]`, which applies to the memory store and \
                 Redis alike"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.max_body_bytes, 16 * 1024 * 1024);
        assert_eq!(config.auth, AuthConfig::None);
    }

    #[test]
    fn toml_file_with_every_auth_mode() {
        let config = Config::from_toml(
            r#"
            listen = "0.0.0.0:8080"
            [auth]
            mode = "hmac"
            secret = "k"
            algorithm = "sha512"
            "#,
        )
        .unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert!(matches!(
            &config.auth,
            AuthConfig::Hmac(hmac) if hmac.algorithm == HmacAlgorithm::Sha512 && hmac.tolerance_seconds == 300
        ));
        assert_eq!(config.http, crate::http::HttpConfig::default());
        let bearer = Config::from_toml("[auth]\nmode = \"bearer\"\ntoken = \"t\"\n").unwrap();
        assert!(matches!(bearer.auth, AuthConfig::Bearer { ref header, .. } if header == "authorization"));
    }

    #[test]
    fn http_limits_from_the_file_are_validated() {
        let config = Config::from_toml("[http]\nheader_timeout_seconds = 2\nmax_connections = 8\n").unwrap();
        assert_eq!(
            (
                config.http.header_timeout_seconds,
                config.http.max_connections,
                config.http.body_timeout_seconds
            ),
            (2, 8, 30)
        );
        let zero = Config::from_toml("[http]\nbody_timeout_seconds = 0\n").unwrap();
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "invalid configuration: http: `body_timeout_seconds` must be between 1 and 86400, got 0"
        );
        let error = Config::from_toml("[http]\nheader_timeout = 2\n").unwrap_err();
        assert!(error.contains("header_timeout"), "{error}");
    }

    #[test]
    fn errors_name_the_key() {
        let error = Config::from_toml("listen = 5\n").unwrap_err();
        assert!(error.contains("listen"), "{error}");
        let error = Config::from_toml("lisen = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(error.contains("unknown field `lisen`"), "{error}");
        let error = Config::from_toml("[auth]\nmode = \"secret\"\n").unwrap_err();
        assert!(error.contains("secret"), "{error}");
        let empty = Config {
            auth: AuthConfig::Secret { secret: String::new() },
            ..Config::default()
        };
        assert_eq!(
            empty.validate().unwrap_err().to_string(),
            "invalid configuration: auth: `secret` must not be empty"
        );
    }

    #[test]
    fn retention_is_its_own_table_and_the_old_redis_keys_say_where_they_went() {
        let config = Config::from_toml(
            "[retention]\ncall_ttl_seconds = 60\nmax_stored_calls = 1000\nconversation_max_entries = 8\n[calls]\nmax_live_calls = 1000\n",
        )
        .unwrap();
        assert_eq!(config.retention.call_ttl_seconds, 60);
        assert_eq!(config.retention.max_stored_calls, 1000);
        assert_eq!(config.retention.conversation_max_entries, 8);
        assert_eq!(
            config.retention.report_ttl_seconds,
            24 * 3600,
            "the rest keep their defaults"
        );
        config.validate().unwrap();

        for key in ["call_ttl_seconds", "report_ttl_seconds", "conversation_ttl_seconds"] {
            let error = Config::from_toml(&format!("[redis]\nurl = \"redis://cache\"\n{key} = 60\n")).unwrap_err();
            assert!(
                error.contains(&format!("`redis.{key}` has moved")) && error.contains("[retention]"),
                "{error}"
            );
        }
        for value in ["true", "false"] {
            let error = Config::from_toml(&format!("[knowledge]\nmeaning = {value}\n")).unwrap_err();
            assert!(
                error.contains("`knowledge.meaning` is gone") && error.contains("scripts/install-encoder"),
                "{error}"
            );
        }
        let zero = Config::from_toml("[retention]\nreport_ttl_seconds = 0\n").unwrap();
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "invalid configuration: retention.report_ttl_seconds must be at least 1"
        );
        let small = Config::from_toml("[retention]\nmax_stored_calls = 10\n[calls]\nmax_live_calls = 11\n").unwrap();
        assert_eq!(
            small.validate().unwrap_err().to_string(),
            "invalid configuration: retention.max_stored_calls (10) must be at least calls.max_live_calls (11)"
        );
        let error = Config::from_toml("[retention]\ncall_ttl = 5\n").unwrap_err();
        assert!(error.contains("unknown field `call_ttl`"), "{error}");
    }

    #[test]
    fn cluster_urls_and_the_instance_come_from_the_file_or_the_flags() {
        let config = Config::from_toml(
            "[server]\ninstance_id = \"web-1\"\nheartbeat_seconds = 2\n[redis]\ncluster_urls = [\"redis://:pw@10.0.0.1:6379\", \"redis://10.0.0.2:6379\"]\nwait_replicas = 1\n",
        )
        .unwrap();
        config.validate().unwrap();
        let redis = config.redis.as_ref().unwrap();
        assert!(redis.is_cluster());
        assert_eq!(redis.redacted_url(), "redis://***@10.0.0.1:6379,redis://10.0.0.2:6379");
        let instance = config.server.instance();
        assert_eq!((instance.id.as_str(), instance.heartbeat.as_secs()), ("web-1", 2));

        // The flag replaces a file's single URL, and the other way round.
        let mut config = Config::from_toml("[redis]\nurl = \"redis://old\"\n").unwrap();
        config.apply(&ServeArgs {
            redis_cluster_urls: Some(vec!["redis://a:1".into(), " redis://b:2".into()]),
            instance_id: Some("web-2".into()),
            ..ServeArgs::default()
        });
        config.validate().unwrap();
        let redis = config.redis.as_ref().unwrap();
        assert_eq!((redis.url.as_str(), redis.cluster_urls.len()), ("", 2));
        assert_eq!(config.server.instance().id, "web-2");

        for (toml, wanted) in [
            (
                "[redis]\nurl = \"redis://a\"\ncluster_urls = [\"redis://b\"]\n",
                "not both",
            ),
            ("[redis]\ncluster_urls = [\"http://b\"]\n", "not a Redis URL"),
            ("[server]\ninstance_id = \"has space\"\n", "server.instance_id"),
            ("[server]\ninstance_id = \"\"\n", "server.instance_id"),
            ("[server]\ninstance_id = 'web\"1'\n", "server.instance_id"),
            ("[server]\ninstance_id = 'web\\1'\n", "server.instance_id"),
            ("[server]\ninstance_id = \"line\\nbreak\"\n", "server.instance_id"),
            ("[server]\nheartbeat_seconds = 0\n", "heartbeat_seconds"),
        ] {
            let error = Config::from_toml(toml).unwrap().validate().unwrap_err().to_string();
            assert!(error.contains(wanted), "{toml}: {error}");
        }
        // A generated id names the host and differs between two starts.
        let (first, second) = (Config::default().server.instance(), Config::default().server.instance());
        assert_ne!(first.id, second.id);
        first.validate().unwrap();
    }

    #[test]
    fn flags_override_the_file() {
        let args = ServeArgs {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            auth: AuthArgs {
                bearer_token: Some("t".into()),
                bearer_header: Some("x-key".into()),
                ..AuthArgs::default()
            },
            ..ServeArgs::default()
        };
        let mut config = Config::default();
        config.apply(&args);
        assert_eq!(config.listen.port(), 0);
        assert_eq!(
            config.auth,
            AuthConfig::Bearer {
                token: "t".into(),
                header: "x-key".into()
            }
        );

        let args = ServeArgs {
            redis_url: Some("redis://:pw@127.0.0.1:6390/2".into()),
            knowledge_dir: Some(PathBuf::from("/srv/kb")),
            admin_token: Some("adm".into()),
            auth: AuthArgs {
                hmac_secret: Some("k".into()),
                hmac_encoding: Some(SignatureEncoding::Base64),
                ..AuthArgs::default()
            },
            ..ServeArgs::default()
        };
        let mut config = Config::from_toml(
            "[redis]\nurl = \"redis://old\"\nkey_prefix = \"x:\"\n[auth]\nmode = \"hmac\"\nsecret = \"old\"\nalgorithm = \"sha1\"\npayload_format = \"{body}\"\n",
        )
        .unwrap();
        config.apply(&args);
        let redis = config.redis.as_ref().unwrap();
        assert_eq!(
            (redis.url.as_str(), redis.key_prefix.as_str()),
            ("redis://:pw@127.0.0.1:6390/2", "x:")
        );
        assert_eq!(config.knowledge.dir.as_deref(), Some(std::path::Path::new("/srv/kb")));
        assert_eq!(config.admin.token.as_deref(), Some("adm"));
        // The flags replace the secret and the encoding; the file's algorithm and payload format stay.
        let AuthConfig::Hmac(hmac) = &config.auth else {
            panic!("{:?}", config.auth)
        };
        assert_eq!(
            (
                hmac.secret.as_str(),
                hmac.algorithm,
                hmac.signature_encoding,
                hmac.format()
            ),
            ("k", HmacAlgorithm::Sha1, SignatureEncoding::Base64, "{body}")
        );
        config.validate().unwrap();
    }
}
