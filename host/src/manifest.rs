//! The subset of the Spin application manifest (`spin.toml`, `spin_manifest_version = 2`) that
//! this host understands: application variables, HTTP triggers and components.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A parsed `spin.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Must be 2.
    pub spin_manifest_version: u32,
    /// `[application]`.
    #[serde(default)]
    pub application: Application,
    /// `[variables]`: application variables, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDef>,
    /// `[[trigger.*]]` tables.
    #[serde(default)]
    pub trigger: Triggers,
    /// `[component.<id>]` tables, by component id.
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDef>,
}

/// `[application]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Application {
    /// Application name.
    #[serde(default)]
    pub name: String,
}

/// One application variable declaration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VariableDef {
    /// Value used when no `SPIN_VARIABLE_*` override is set.
    pub default: Option<String>,
    /// Start-up fails when a required variable has no value.
    #[serde(default)]
    pub required: bool,
    /// Secret values are never logged.
    #[serde(default)]
    pub secret: bool,
}

/// All trigger tables; only HTTP is supported.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Triggers {
    /// `[[trigger.http]]`.
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTrigger {
    /// A route pattern, or `{ private = true }`.
    pub route: RouteDef,
    /// The id of the component serving the route.
    pub component: String,
}

/// The `route` of an HTTP trigger.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RouteDef {
    /// A route pattern such as `/api/...`.
    Pattern(String),
    /// `{ private = true }`: reachable only by local service chaining.
    Private {
        /// Must be `true`.
        private: bool,
    },
}

/// One `[component.<id>]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentDef {
    /// Path of the `.wasm` file, relative to the manifest directory.
    pub source: String,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Outbound HTTP destinations (templates allowed), e.g. `https://api.example.com`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variables: templates over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// WASI environment variables.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `[component.<id>.build]`.
    pub build: Option<BuildDef>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, Deserialize)]
pub struct BuildDef {
    /// Shell command run by `--build`.
    pub command: String,
    /// Working directory relative to the manifest directory (default: the manifest directory).
    pub workdir: Option<String>,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest =
            Self::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))?;
        Ok(manifest)
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "unsupported spin_manifest_version {} (only 2 is supported)",
                self.spin_manifest_version
            );
        }
        for (name, def) in &self.variables {
            crate::variables::validate_name(name)
                .with_context(|| format!("application variable '{name}'"))?;
            if def.required && def.default.is_some() {
                bail!("variable '{name}' is required and so cannot have a default");
            }
            if !def.required && def.default.is_none() {
                bail!("variable '{name}' needs either a default or required = true");
            }
        }
        for trigger in &self.trigger.http {
            if !self.component.contains_key(&trigger.component) {
                bail!(
                    "trigger route {:?} names unknown component '{}'",
                    trigger.route,
                    trigger.component
                );
            }
            match &trigger.route {
                RouteDef::Private { private: false } => bail!(
                    "route must be a string pattern or '{{ private = true }}': component '{}' has {{ private = false }}",
                    trigger.component
                ),
                RouteDef::Pattern(p) => crate::router::RoutePattern::parse(p)
                    .with_context(|| format!("route of component '{}'", trigger.component))
                    .map(drop)?,
                RouteDef::Private { private: true } => {}
            }
        }
        for (id, def) in &self.component {
            for name in def.variables.keys() {
                crate::variables::validate_name(name)
                    .with_context(|| format!("variable '{name}' of component '{id}'"))?;
            }
        }
        Ok(())
    }

    /// Absolute-ish path of a component's wasm file, resolved against the manifest directory.
    pub fn source_path(&self, manifest_dir: &Path, id: &str) -> Option<PathBuf> {
        self.component.get(id).map(|c| manifest_dir.join(&c.source))
    }
}

/// Runs every component's `[component.<id>.build] command` with `sh -c` in the manifest directory
/// (or its `workdir`), in component id order. Fails on the first command that fails.
pub fn build_components(manifest_path: &Path) -> Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let dir = manifest_dir(manifest_path);
    for (id, def) in &manifest.component {
        let Some(build) = &def.build else { continue };
        let workdir = match &build.workdir {
            Some(w) => dir.join(w),
            None => dir.clone(),
        };
        eprintln!(
            "spinpost-host: building component '{id}': {}",
            build.command
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("cannot run build command of component '{id}'"))?;
        if !status.success() {
            bail!("build command of component '{id}' failed ({status})");
        }
    }
    Ok(())
}

/// The directory holding the manifest (`.` for a bare file name).
pub fn manifest_dir(manifest_path: &Path) -> PathBuf {
    match manifest_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_repo_manifest() {
        let text = include_str!("../../spin.toml");
        let m = Manifest::parse(text).expect("repo spin.toml parses");
        assert_eq!(m.component.len(), 5);
        assert!(m.variables["admin_token"].required);
        assert!(m
            .trigger
            .http
            .iter()
            .any(|t| matches!(t.route, RouteDef::Private { private: true })
                && t.component == "feedback"));
    }

    #[test]
    fn rejects_unknown_component_and_bad_variables() {
        let bad = r#"
spin_manifest_version = 2
[[trigger.http]]
route = "/x"
component = "nope"
"#;
        assert!(Manifest::parse(bad).is_err());
        let bad = r#"
spin_manifest_version = 2
[variables]
x = { required = true, default = "1" }
"#;
        assert!(Manifest::parse(bad).is_err());
    }
}
