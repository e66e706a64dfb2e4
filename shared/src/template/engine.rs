//! The minijinja environment every template runs in: a work budget (fuel), minijinja's recursion limit,
//! an output cap, undefined and `none` rendering as nothing, and Telegram HTML escaping of every
//! substituted value in message texts. Building an environment is cheap (built-ins are shared), which
//! matters because Spin gives every request a fresh instance.

use std::collections::BTreeMap;
use std::io;

use minijinja::value::Value;
use minijinja::{
    AutoEscape, Environment, ErrorKind as EngineErrorKind, Output, State, UndefinedBehavior,
};

use super::limits::{FIELD_FUEL, MAX_OUTPUT_BYTES, RECURSION_LIMIT, TEXT_FUEL};
use super::markup::escape_html;
use crate::error::{Error, Result};
use crate::subscriber::Subscriber;

/// The auto-escape mode of message texts: the template markup, an HTML subset.
const MARKUP_ESCAPE: &str = "markup";

/// How a field's substituted values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// A message text: values are HTML-escaped, the author's markup is kept.
    Markup,
    /// A URL, label or parameter: values are written as they are.
    Plain,
}

/// The names every template may use besides its own locals.
pub(crate) const ROOT_VARIABLES: [&str; 3] = ["subscriber", "campaign", "event"];
/// The fields of `subscriber` a template may use.
pub(crate) const SUBSCRIBER_FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "username",
    "locale",
    "timezone",
    "tags",
    "attributes",
    "id",
    "channel",
];
/// The fields of `campaign` a template may use.
pub(crate) const CAMPAIGN_FIELDS: [&str; 3] = ["id", "name", "variables"];
/// The fields of `event` a template may use (a campaign's message renders them empty).
pub(crate) const EVENT_FIELDS: [&str; 3] = ["name", "key", "data"];

/// A configured environment for one kind of field.
pub(crate) fn environment<'source>(kind: FieldKind) -> Environment<'source> {
    let mut env = Environment::new();
    // Debug mode copies the source into every error; line and span are kept without it.
    env.set_debug(false);
    env.set_fuel(Some(match kind {
        FieldKind::Markup => TEXT_FUEL,
        FieldKind::Plain => FIELD_FUEL,
    }));
    env.set_recursion_limit(RECURSION_LIMIT);
    // `subscriber.attributes.city` of a subscriber without that attribute renders empty, not an error.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(move |_| match kind {
        FieldKind::Markup => AutoEscape::Custom(MARKUP_ESCAPE.into()),
        FieldKind::Plain => AutoEscape::None,
    });
    env.set_formatter(format_value);
    // `safe` would let a subscriber's name inject markup; escaping is not the author's choice.
    env.remove_filter("safe");
    env.add_filter("escape", escape_filter);
    env.add_filter("e", escape_filter);
    env.add_filter("default", default_filter);
    env.add_filter("d", default_filter);
    // `debug()` dumps the whole context into a message.
    env.remove_global("debug");
    env
}

/// Names of the globals (functions such as `range`) templates may call.
pub(crate) fn global_names() -> Vec<String> {
    environment(FieldKind::Plain)
        .globals()
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Undefined and `none` print as nothing, never as "none" or "undefined"; message texts escape values.
fn format_value(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    match state.auto_escape() {
        AutoEscape::Custom(mode) if mode == MARKUP_ESCAPE => {
            let text = value.to_string();
            let written = if value.is_safe() {
                out.write_str(&text)
            } else {
                out.write_str(&escape_html(&text))
            };
            written.map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `escape` / `e`: Telegram HTML escaping, marked safe so it is not escaped twice.
fn escape_filter(value: &Value) -> Value {
    if value.is_safe() {
        return value.clone();
    }
    Value::from_safe_string(escape_html(&value.to_string()).into_owned())
}

/// `default(fallback, lax=false)`: like Jinja's, but `none` counts as missing too, so
/// `{{ subscriber.first_name | default("friend") }}` works whether the name is absent or null.
fn default_filter(value: &Value, fallback: Option<Value>, lax: Option<bool>) -> Value {
    let missing =
        value.is_undefined() || value.is_none() || (lax.unwrap_or(false) && !value.is_true());
    if missing {
        fallback.unwrap_or_else(|| Value::from(""))
    } else {
        value.clone()
    }
}

/// The campaign as templates see it.
#[derive(Debug, Clone, Copy)]
pub struct CampaignVars<'a> {
    /// The campaign id.
    pub id: &'a str,
    /// The campaign name.
    pub name: &'a str,
    /// The campaign's own variables (`campaign.variables.code`).
    pub variables: &'a BTreeMap<String, String>,
}

/// What a template renders with: the recipient and the campaign.
#[derive(Debug, Clone, Copy)]
pub struct RenderInput<'a> {
    /// The recipient.
    pub subscriber: &'a Subscriber,
    /// The campaign.
    pub campaign: CampaignVars<'a>,
}

/// The event a message answers, as templates see it (`event.data.order_number`).
#[derive(Debug, Clone, Copy)]
pub struct EventVars<'a> {
    /// The event name (`order.shipped`).
    pub name: &'a str,
    /// The event's own key (an order or appointment number), when it has one.
    pub key: Option<&'a str>,
    /// The event's data object as the business sent it.
    pub data: &'a serde_json::Value,
}

/// The template context with the event a message answers added as `event`.
pub(crate) fn context_with_event(input: &RenderInput<'_>, event: &EventVars<'_>) -> Value {
    let mut fields = BTreeMap::from([
        ("name", Value::from(event.name)),
        ("data", json_value(event.data)),
    ]);
    if let Some(key) = event.key {
        fields.insert("key", Value::from(key));
    }
    let base = context(input);
    let mut roots: BTreeMap<String, Value> = BTreeMap::new();
    for root in ["subscriber", "campaign"] {
        if let Ok(value) = base.get_attr(root) {
            roots.insert(root.to_owned(), value);
        }
    }
    roots.insert("event".to_owned(), Value::from(fields));
    Value::from(roots)
}

/// A JSON value as a template value (objects keep their keys, numbers their kind).
fn json_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) => Value::from(f),
            (None, None) => Value::from(n.to_string()),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(json_value).collect::<Vec<_>>())
        }
        serde_json::Value::Object(fields) => Value::from(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// The template context. Absent values are left out so they are undefined (and `default` applies).
pub(crate) fn context(input: &RenderInput<'_>) -> Value {
    let subscriber = input.subscriber;
    let mut fields: BTreeMap<&str, Value> = BTreeMap::new();
    let profile = [
        ("first_name", &subscriber.profile.first_name),
        ("last_name", &subscriber.profile.last_name),
        ("username", &subscriber.profile.username),
    ];
    for (name, value) in profile {
        if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            fields.insert(name, Value::from(value));
        }
    }
    if let Some(locale) = &subscriber.locale {
        fields.insert("locale", Value::from(locale.as_str()));
    }
    if let Some(timezone) = subscriber.timezone {
        fields.insert("timezone", Value::from(timezone.tz().name()));
    }
    fields.insert(
        "tags",
        Value::from(
            subscriber
                .tags
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
    );
    let attributes: BTreeMap<String, Value> = subscriber
        .attributes
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), Value::from(value.as_str())))
        .collect();
    fields.insert("attributes", Value::from(attributes));
    fields.insert("id", Value::from(subscriber.id.as_str()));
    fields.insert("channel", Value::from(subscriber.channel.to_string()));

    let campaign = input.campaign;
    let variables: BTreeMap<String, Value> = campaign
        .variables
        .iter()
        .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
        .collect();
    let campaign = BTreeMap::from([
        ("id", Value::from(campaign.id)),
        ("name", Value::from(campaign.name)),
        ("variables", Value::from(variables)),
    ]);
    Value::from(BTreeMap::from([
        ("subscriber", Value::from(fields)),
        ("campaign", Value::from(campaign)),
    ]))
}

/// Collects output and refuses to grow past [`MAX_OUTPUT_BYTES`], so a template that prints without end
/// stops early instead of filling memory.
struct CappedOutput {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(io::Error::other("template output cap reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Render the template named `name` in `env` with `ctx`; `field` names it in errors.
///
/// # Errors
/// 422 with `template_out_of_fuel`, `template_recursion_limit`, `template_output_too_large` or
/// `template_render_failed`, each naming the field and line.
pub(crate) fn render_named(
    env: &Environment<'_>,
    name: &str,
    field: &str,
    ctx: &Value,
) -> Result<String> {
    let template = env
        .get_template(name)
        .map_err(|e| engine_error(field, &e))?;
    let mut output = CappedOutput {
        bytes: Vec::new(),
        overflowed: false,
    };
    match template.render_captured_to(ctx.clone(), &mut output) {
        Ok(_) => String::from_utf8(output.bytes).map_err(|_| Error::internal("template output is not UTF-8")),
        Err(_) if output.overflowed => Err(Error::unprocessable(
            "template_output_too_large",
            format!("{field} renders to more than {MAX_OUTPUT_BYTES} bytes; shorten it or bound its loops"),
        )),
        Err(e) => Err(engine_error(field, &e)),
    }
}

/// Map a minijinja error to the core's, naming the field, line and column.
pub(crate) fn engine_error(field: &str, err: &minijinja::Error) -> Error {
    let at = location(err, None)
        .map(|(line, _)| format!(" (line {line})"))
        .unwrap_or_default();
    match err.kind() {
        EngineErrorKind::OutOfFuel => Error::unprocessable(
            "template_out_of_fuel",
            format!("{field}{at} does more work than a message may (a loop that never ends, or one too large)"),
        ),
        EngineErrorKind::InvalidOperation if err.detail().is_some_and(|d| d.contains("recursion limit")) => {
            Error::unprocessable(
                "template_recursion_limit",
                format!("{field}{at} nests macros, loops or conditions deeper than {RECURSION_LIMIT} levels"),
            )
        }
        EngineErrorKind::SyntaxError => Error::unprocessable("invalid_template", format!("{field}{at}: {}", describe(err))),
        _ => Error::unprocessable("template_render_failed", format!("{field}{at}: {}", describe(err))),
    }
}

/// The error's text without minijinja's "(in name:line)" suffix, which names our internal template.
pub(crate) fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

/// The 1-based line and column of an error, when minijinja knows them. The column needs the source.
pub(crate) fn location(
    err: &minijinja::Error,
    source: Option<&str>,
) -> Option<(usize, Option<usize>)> {
    let line = err.line()?;
    let column = source.zip(err.range()).and_then(|(source, range)| {
        let before = source.get(..range.start)?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Some(before[line_start..].chars().count() + 1)
    });
    Some((line, column))
}
