//! Save-time validation of a version's content: every field compiles (a syntax error names its line
//! and column), uses only variables that exist (`subscriber.*`, `campaign.*`, its own loop and set
//! locals), and only the HTML tags Telegram supports; then every variant is rendered with sample data on
//! both platforms, so a template that loops forever or is too long is refused before it is stored.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::engine::{
    self, context, CampaignVars, FieldKind, RenderInput, CAMPAIGN_FIELDS, EVENT_FIELDS,
    ROOT_VARIABLES, SUBSCRIBER_FIELDS,
};
use super::markup;
use super::model::{ButtonSpec, TemplateContent, TemplateId, TemplateVersion};
use super::render::{check_http_url, fields, DataChecks, Renderer};
use crate::error::{Error, Result};
use crate::subscriber::{Address, Channel, Locale, Platform, Profile, Subscriber, TimeZone};

/// Problems found in content, reported together as one 422 `invalid_template`.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    problems: Vec<serde_json::Value>,
    unknown_variables: BTreeSet<String>,
    forbidden_tags: BTreeSet<String>,
}

impl Problems {
    /// A problem with a field.
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.problems
            .push(json!({ "field": field, "message": message.into() }));
    }

    fn add_at(&mut self, field: &str, message: String, line: usize, column: Option<usize>) {
        self.problems
            .push(json!({ "field": field, "message": message, "line": line, "column": column }));
    }

    /// `Ok` when nothing was found; otherwise the error, whose message names the first problem and
    /// whose `details` list them all (`problems`, `unknown_variables`, `forbidden_tags`).
    pub(crate) fn into_result(self) -> Result<()> {
        let Some(first) = self.problems.first() else {
            return Ok(());
        };
        let mut message = format!(
            "{}: {}",
            first["field"].as_str().unwrap_or_default(),
            first["message"].as_str().unwrap_or_default()
        );
        if self.problems.len() > 1 {
            message.push_str(&format!(
                " (and {} more problems in error.details)",
                self.problems.len() - 1
            ));
        }
        let details = json!({
            "problems": self.problems,
            "unknown_variables": self.unknown_variables,
            "forbidden_tags": self.forbidden_tags,
        });
        Err(Error::unprocessable("invalid_template", message).with_details(details))
    }
}

/// Check content before it is stored.
///
/// # Errors
/// 422 `invalid_template` with every compile, variable and markup problem in `details`; or, when
/// those pass, the first 422 a sample render gives (`template_out_of_fuel`, `template_text_too_long`…).
pub fn validate_content(
    template_id: &TemplateId,
    content: &TemplateContent,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut problems = Problems::default();
    let globals = engine::global_names();
    let markup_env = engine::environment(FieldKind::Markup);
    let plain_env = engine::environment(FieldKind::Plain);
    for (locale, variant) in content.locales() {
        for (field, source, kind) in fields(locale, variant) {
            let env = if kind == FieldKind::Markup {
                &markup_env
            } else {
                &plain_env
            };
            let template = match env.template_from_named_str(&field, source) {
                Ok(template) => template,
                Err(err) => {
                    let message = engine::describe(&err);
                    match engine::location(&err, Some(source)) {
                        Some((line, column)) => {
                            let at = column.map(|c| format!(", column {c}")).unwrap_or_default();
                            problems.add_at(
                                &field,
                                format!("line {line}{at}: {message}"),
                                line,
                                column,
                            );
                        }
                        None => problems.add(&field, message),
                    }
                    continue;
                }
            };
            let mut unknown: Vec<String> = template
                .undeclared_variables(true)
                .into_iter()
                .filter(|path| !is_known_variable(path, &globals))
                .collect();
            if !unknown.is_empty() {
                unknown.sort();
                problems.add(
                    &field,
                    format!(
                        "unknown variables {}; use subscriber.{{{}}} or campaign.{{{}}}",
                        unknown.join(", "),
                        SUBSCRIBER_FIELDS.join(","),
                        CAMPAIGN_FIELDS.join(",")
                    ),
                );
                problems.unknown_variables.extend(unknown);
            }
            if uses_autoescape_block(source) {
                problems.add(
                    &field,
                    "{% autoescape %} is not allowed: substituted values are always escaped",
                );
            }
            if kind == FieldKind::Markup {
                for (tag, message) in markup::source_tag_problems(source) {
                    problems.add(&field, message);
                    // Supported tags with a bad attribute are problems, not forbidden tags.
                    if !markup::SUPPORTED_TAGS.contains(&tag.as_str()) {
                        problems.forbidden_tags.insert(tag);
                    }
                }
            }
        }
        let prefix = format!("locales.{}", locale.as_str());
        let is_static = |source: &str| !source.contains("{{") && !source.contains("{%");
        if let Some(url) = variant.photo_url.as_deref().filter(|url| is_static(url)) {
            if let Err(why) = check_http_url(url.trim()) {
                problems.add(&format!("{prefix}.photo_url"), format!("'{url}' is {why}"));
            }
        }
        for (r, row) in variant.buttons.iter().enumerate() {
            for (c, button) in row.iter().enumerate() {
                if let ButtonSpec::Url { url, .. } = button {
                    if is_static(url) {
                        if let Err(why) = check_http_url(url.trim()) {
                            problems.add(
                                &format!("{prefix}.buttons[{r}][{c}].url"),
                                format!("'{url}' is {why}"),
                            );
                        }
                    }
                }
            }
        }
    }
    problems.into_result()?;
    sample_render(template_id, content, now)
}

/// Render every variant for every platform with a sample recipient in that variant's locale.
fn sample_render(
    template_id: &TemplateId,
    content: &TemplateContent,
    now: DateTime<Utc>,
) -> Result<()> {
    let version = TemplateVersion::new(template_id.clone(), 1, content.clone(), now);
    let renderer = Renderer::new(&version)?;
    let variables = BTreeMap::new();
    let campaign = CampaignVars {
        id: "sample",
        name: "Sample campaign",
        variables: &variables,
    };
    for (locale, variant) in content.locales() {
        for platform in Platform::ALL {
            let subscriber = sample_subscriber(platform, Some(locale.clone()), now)?;
            let ctx = context(&RenderInput {
                subscriber: &subscriber,
                campaign,
            });
            renderer.render_variant(
                locale,
                variant,
                &ctx,
                platform,
                DataChecks::SkipDataDependent,
            )?;
        }
    }
    Ok(())
}

/// A subscriber with every profile field set, for previews and save-time checks.
///
/// # Errors
/// Never in practice: the sample channel and address are valid.
pub fn sample_subscriber(
    platform: Platform,
    locale: Option<Locale>,
    now: DateTime<Utc>,
) -> Result<Subscriber> {
    let channel = Channel::new(platform, "sample")?;
    let address = Address::parse(platform, platform.sample_address())?;
    let mut subscriber = Subscriber::new(channel, address, now);
    subscriber.profile = Profile {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        username: Some("ada".into()),
    };
    subscriber.locale = locale;
    subscriber.timezone = Some(TimeZone::parse("Europe/London")?);
    Ok(subscriber)
}

/// Whether a variable path a template reads exists at render time.
fn is_known_variable(path: &str, globals: &[String]) -> bool {
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or_default();
    let field = parts.next();
    match root {
        "subscriber" => field.is_none_or(|f| SUBSCRIBER_FIELDS.contains(&f)),
        "campaign" => field.is_none_or(|f| CAMPAIGN_FIELDS.contains(&f)),
        "event" => field.is_none_or(|f| EVENT_FIELDS.contains(&f)),
        other => !ROOT_VARIABLES.contains(&other) && globals.iter().any(|g| g == other),
    }
}

/// Whether the source opens an `{% autoescape %}` block, which could turn escaping off.
fn uses_autoescape_block(source: &str) -> bool {
    source.match_indices("{%").any(|(at, _)| {
        source[at + 2..]
            .trim_start_matches(['-', '+'])
            .trim_start()
            .starts_with("autoescape")
    })
}
