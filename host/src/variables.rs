//! Application and component variables, resolved the way Spin's default provider does:
//! `SPIN_VARIABLE_<NAME>` from the environment, else the declared default.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Result};

use crate::manifest::Manifest;

/// Checks a variable name against Spin's rules: lower-case ASCII letters, digits and `_`,
/// starting with a letter, no `__` and no trailing `_`.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        bail!("variable name must not be empty");
    };
    if !first.is_ascii_lowercase() {
        bail!("variable name {name:?} must start with a lower-case letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("variable name {name:?} may only contain a-z, 0-9 and _");
    }
    if name.contains("__") || name.ends_with('_') {
        bail!("variable name {name:?} must not contain '__' or end with '_'");
    }
    Ok(())
}

/// The environment variable that sets application variable `name`.
pub fn env_key(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Application variable values after resolution, plus which are secret.
#[derive(Clone, Default)]
pub struct AppVariables {
    values: HashMap<String, String>,
    secret: HashMap<String, bool>,
}

/// Debug-prints the names of variables, sorted, and never their values: some are secrets.
pub(crate) struct VariableNames<'a>(pub(crate) &'a HashMap<String, String>);

impl std::fmt::Debug for VariableNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.0.keys().collect();
        names.sort();
        f.debug_list().entries(names).finish()
    }
}

impl std::fmt::Debug for AppVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppVariables")
            .field("names", &VariableNames(&self.values))
            .finish()
    }
}

impl AppVariables {
    /// Resolves every application variable of `manifest`.
    ///
    /// `lookup` answers `SPIN_VARIABLE_*` keys (the host combines the config's overrides with the
    /// process environment). A required variable without a value is an error naming it.
    pub fn resolve(manifest: &Manifest, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut values = HashMap::new();
        let mut secret = HashMap::new();
        let mut missing = Vec::new();
        for (name, def) in &manifest.variables {
            let key = env_key(name);
            match lookup(&key).or_else(|| def.default.clone()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if def.required => {
                    missing.push(format!("missing required variable '{name}': set {key}"))
                }
                // Validation already rejects a variable with neither default nor `required`.
                None => {}
            }
            secret.insert(name.clone(), def.secret);
        }
        if !missing.is_empty() {
            bail!("{}", missing.join("; "));
        }
        Ok(Self { values, secret })
    }

    /// The value of application variable `name`, if defined.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` is declared secret (unknown names count as secret).
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret.get(name).copied().unwrap_or(true)
    }

    /// Expands `{{ name }}` references in `template` with application variable values.
    pub fn expand(&self, template: &str) -> Result<String> {
        expand_template(template, |name| self.get(name).map(str::to_owned))
    }

    /// Resolves a component's `[component.<id>.variables]` into final values.
    pub fn component_values(
        &self,
        component_id: &str,
        templates: &BTreeMap<String, String>,
    ) -> Result<HashMap<String, String>> {
        templates
            .iter()
            .map(|(k, t)| {
                let v = self
                    .expand(t)
                    .map_err(|e| anyhow!("variable '{k}' of component '{component_id}': {e}"))?;
                Ok((k.clone(), v))
            })
            .collect()
    }
}

/// Expands `{{ name }}` (whitespace inside the braces ignored) using `lookup`.
/// An unknown name or an unclosed `{{` is an error.
pub fn expand_template(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unclosed '{{{{' in template {template:?}");
        };
        let name = after[..end].trim();
        validate_name(name)?;
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => bail!("template refers to undefined variable '{name}'"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[variables]
admin_token = { required = true, secret = true }
tick_token = { required = true, secret = true }
api_url = { default = "https://api.example.com" }
[component.c]
source = "c.wasm"
[component.c.variables]
token = "{{ admin_token }}"
url = "{{api_url}}/v1"
plain = "literal"
"#,
        )
        .expect("manifest")
    }

    #[test]
    fn resolves_env_then_default() {
        let m = manifest();
        let env: HashMap<String, String> = [
            ("SPIN_VARIABLE_ADMIN_TOKEN", "s3cret"),
            ("SPIN_VARIABLE_TICK_TOKEN", "t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let vars = AppVariables::resolve(&m, |k| env.get(k).cloned()).expect("resolve");
        let c = vars
            .component_values("c", &m.component["c"].variables)
            .expect("component");
        assert_eq!(c["token"], "s3cret");
        assert_eq!(c["url"], "https://api.example.com/v1");
        assert_eq!(c["plain"], "literal");
        assert!(vars.is_secret("admin_token"));
        assert!(!vars.is_secret("api_url"));
        assert!(!format!("{vars:?}").contains("s3cret"));
    }

    #[test]
    fn missing_required_variable_is_named() {
        let m = manifest();
        let err = AppVariables::resolve(&m, |k| {
            (k == "SPIN_VARIABLE_TICK_TOKEN").then(|| "t".to_owned())
        })
        .expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "missing required variable 'admin_token': set SPIN_VARIABLE_ADMIN_TOKEN"
        );
    }

    #[test]
    fn templates_and_names() {
        let get = |n: &str| (n == "a").then(|| "1".to_owned());
        assert_eq!(expand_template("x{{ a }}y{{a}}", get).expect("ok"), "x1y1");
        assert!(expand_template("{{ b }}", get).is_err());
        assert!(expand_template("{{ a ", get).is_err());
        assert!(validate_name("admin_token").is_ok());
        for bad in ["", "Admin", "1a", "a-b", "a__b", "a_"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
