//! Spin's runtime config file (`spin up --runtime-config-file <path>`), the part this host
//! implements: key-value stores.
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://localhost:6379"
//!
//! # compatibility = "spin"    # issue exactly the commands of Spin's Redis store, defects
//! #                           # included (see README, "Spin's Redis backend"); for tests
//!
//! [key_value_store.cache]
//! type = "spin"                # SQLite
//! path = "data/cache.db"       # relative to this file's directory; no path: in memory
//! ```
//!
//! Other sections (`[variables_provider]`, `[sqlite_database.*]`, ...) are ignored with a
//! warning, so the same file serves `spin up` and this host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::kv::RedisCommands;

/// The parsed runtime config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]` sections, by label.
    pub key_value_stores: BTreeMap<String, KvStoreConfig>,
    /// Top-level keys this host does not implement (reported as warnings at start-up).
    pub ignored: Vec<String>,
}

/// One `[key_value_store.<label>]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvStoreConfig {
    /// `type = "spin"`: SQLite at `path` (already resolved against the config file's
    /// directory), or a temporary in-memory database without one, as in Spin.
    Spin {
        /// The database file.
        path: Option<PathBuf>,
    },
    /// `type = "redis"`.
    Redis {
        /// `redis://[user:password@]host[:port][/db]`.
        url: String,
        /// `compatibility = "spin"` (this host only): the commands of Spin's Redis store.
        commands: RedisCommands,
    },
}

impl RuntimeConfig {
    /// Reads and parses the file at `path`; relative paths inside it are relative to its
    /// directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse(&text, base).with_context(|| format!("runtime config file {}", path.display()))
    }

    /// Parses runtime config TOML; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
        let mut config = Self::default();
        for (key, value) in table {
            if key != "key_value_store" {
                config.ignored.push(key);
                continue;
            }
            let stores = value.as_table().ok_or_else(|| {
                anyhow!("key_value_store must be a table of [key_value_store.<label>] sections")
            })?;
            for (label, section) in stores {
                let store = parse_store(section, base_dir)
                    .with_context(|| format!("[key_value_store.{label}]"))?;
                config.key_value_stores.insert(label.clone(), store);
            }
        }
        Ok(config)
    }
}

fn parse_store(section: &toml::Value, base_dir: &Path) -> Result<KvStoreConfig> {
    let mut fields = section
        .as_table()
        .ok_or_else(|| anyhow!("must be a table"))?
        .clone();
    let kind = match fields.remove("type") {
        Some(toml::Value::String(kind)) => kind,
        Some(_) => bail!("`type` must be a string"),
        None => bail!("`type` is missing (\"spin\" or \"redis\")"),
    };
    let store = match kind.as_str() {
        "spin" => {
            let path = match fields.remove("path") {
                Some(toml::Value::String(p)) => Some(base_dir.join(p)),
                Some(_) => bail!("`path` must be a string"),
                None => None,
            };
            KvStoreConfig::Spin { path }
        }
        "redis" => {
            let url = match fields.remove("url") {
                Some(toml::Value::String(url)) => url,
                Some(_) => bail!("`url` must be a string"),
                None => bail!("`url` is missing (e.g. \"redis://localhost:6379\")"),
            };
            let commands = match fields.remove("compatibility") {
                None => RedisCommands::Correct,
                Some(toml::Value::String(mode)) if mode == "spin" => RedisCommands::SpinCompatible,
                Some(_) => bail!("`compatibility` must be \"spin\" (or left out)"),
            };
            KvStoreConfig::Redis { url, commands }
        }
        "azure_cosmos" | "aws_dynamo" => {
            bail!("type \"{kind}\" is supported by Spin but not by spinpost-host (\"spin\" or \"redis\")")
        }
        other => bail!("unknown type \"{other}\" (\"spin\" or \"redis\")"),
    };
    // Spin rejects unknown fields too; a typo must not silently fall back to a default.
    if let Some(field) = fields.keys().next() {
        bail!("unknown field `{field}` for type \"{kind}\"");
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_and_spin_stores_with_paths_relative_to_the_file() {
        let config = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://localhost:6379"

[key_value_store.cache]
type = "spin"
path = "data/cache.db"

[key_value_store.scratch]
type = "spin"

[key_value_store.abs]
type = "spin"
path = "/var/lib/kv.db"

[key_value_store.as_spin]
type = "redis"
url = "redis://r"
compatibility = "spin"

[variables_provider]
type = "env"
"#,
            Path::new("/etc/spinpost"),
        )
        .expect("parse");
        let redis = |url: &str, commands| KvStoreConfig::Redis {
            url: url.into(),
            commands,
        };
        let spin = |path: Option<&str>| KvStoreConfig::Spin {
            path: path.map(PathBuf::from),
        };
        let expected = BTreeMap::from([
            (
                "default".to_owned(),
                redis("redis://localhost:6379", RedisCommands::Correct),
            ),
            (
                "cache".to_owned(),
                spin(Some("/etc/spinpost/data/cache.db")),
            ),
            ("scratch".to_owned(), spin(None)),
            ("abs".to_owned(), spin(Some("/var/lib/kv.db"))),
            (
                "as_spin".to_owned(),
                redis("redis://r", RedisCommands::SpinCompatible),
            ),
        ]);
        assert_eq!(config.key_value_stores, expected);
        assert_eq!(config.ignored, vec!["variables_provider"]);
    }

    #[test]
    fn rejects_what_spin_would_not_run_here() {
        let err = |text: &str| {
            format!(
                "{:#}",
                RuntimeConfig::parse(text, Path::new(".")).expect_err("must fail")
            )
        };
        assert_eq!(
            err("[key_value_store.default]\ntype = \"redis\"\n"),
            "[key_value_store.default]: `url` is missing (e.g. \"redis://localhost:6379\")"
        );
        assert_eq!(
            err("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\nuri = \"y\"\n"),
            "[key_value_store.default]: unknown field `uri` for type \"redis\""
        );
        assert_eq!(
            err("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\ncompatibility = \"spin-4\"\n"),
            "[key_value_store.default]: `compatibility` must be \"spin\" (or left out)"
        );
        assert!(err("[key_value_store.default]\ntype = \"azure_cosmos\"\n")
            .contains("not by spinpost-host"));
        assert!(err("[key_value_store.default]\npath = \"x\"\n").contains("`type` is missing"));
        assert!(err("key_value_store = 1\n").contains("must be a table"));
        assert!(err("[key_value_store.default\n").contains("not valid TOML"));
    }

    #[test]
    fn load_names_the_file() {
        let err = RuntimeConfig::load(Path::new("/nonexistent/runtime-config.toml"))
            .expect_err("must fail");
        assert!(format!("{err:#}").contains("/nonexistent/runtime-config.toml"));
    }
}
