//! Rendering a template version for one recipient on one platform into a [`RenderedMessage`].

use minijinja::value::Value;
use minijinja::Environment;

use super::engine::{
    self, context, context_with_event, render_named, EventVars, FieldKind, RenderInput,
};
use super::limits::{MAX_RENDERED_BUTTON_TEXT_CHARS, MAX_URL_BYTES, MAX_WHATSAPP_PARAMETER_BYTES};
use super::markup;
use super::model::{ButtonSpec, TemplateVersion, Variant};
use crate::capabilities::FormattedText;
use crate::error::{Error, Result};
use crate::message::{Button, PlatformTemplate, RenderedMessage};
use crate::subscriber::{Locale, Platform};

/// Render `version` for one recipient on `platform`, in the recipient's locale (see
/// [`super::TemplateContent::select`]). Compiles only the chosen variant; to render many recipients,
/// build a [`Renderer`] once.
///
/// # Errors
/// 422 with a code naming the problem: `template_out_of_fuel`, `template_recursion_limit`,
/// `template_output_too_large`, `template_render_failed`, `invalid_html`, `template_text_too_long`,
/// `template_text_empty`, `invalid_button`, `invalid_button_url`, `invalid_photo_url`.
pub fn render(
    version: &TemplateVersion,
    input: &RenderInput<'_>,
    platform: Platform,
) -> Result<RenderedMessage> {
    let (locale, _) = version.content().select(input.subscriber.locale.as_ref())?;
    Renderer::compile(version, Some(locale))?.render(input, platform)
}

/// [`render`] for a message that answers an event: the template also sees `event.name`, `event.key` and
/// `event.data`.
///
/// # Errors
/// As [`render`].
pub fn render_with_event(
    version: &TemplateVersion,
    input: &RenderInput<'_>,
    event: &EventVars<'_>,
    platform: Platform,
) -> Result<RenderedMessage> {
    let (locale, variant) = version.content().select(input.subscriber.locale.as_ref())?;
    let renderer = Renderer::compile(version, Some(locale))?;
    let ctx = context_with_event(input, event);
    renderer.render_variant(locale, variant, &ctx, platform, DataChecks::All)
}

/// A version compiled once, to render many recipients (a dispatch batch).
pub struct Renderer<'a> {
    version: &'a TemplateVersion,
    markup: Environment<'a>,
    plain: Environment<'a>,
}

/// Whether checks that depend on real data run: a save-time render with sample data cannot know the
/// URL or label a `campaign.variables` value will give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataChecks {
    /// Rendering for a real recipient (or a preview): everything is checked.
    All,
    /// Rendering sample data at save time: URLs, labels and empty texts are not judged.
    SkipDataDependent,
}

impl<'a> Renderer<'a> {
    /// Compile every locale's fields.
    ///
    /// # Errors
    /// 422 `invalid_template` when a field does not compile (versions are validated when saved, so
    /// only a record written by other means gets here).
    pub fn new(version: &'a TemplateVersion) -> Result<Self> {
        Self::compile(version, None)
    }

    fn compile(version: &'a TemplateVersion, only: Option<&Locale>) -> Result<Self> {
        let mut markup = engine::environment(FieldKind::Markup);
        let mut plain = engine::environment(FieldKind::Plain);
        for (locale, variant) in version.content().locales() {
            if only.is_some_and(|only| only != locale) {
                continue;
            }
            for (field, source, kind) in fields(locale, variant) {
                let env = match kind {
                    FieldKind::Markup => &mut markup,
                    FieldKind::Plain => &mut plain,
                };
                env.add_template_owned(field.clone(), source)
                    .map_err(|e| engine::engine_error(&field, &e))?;
            }
        }
        Ok(Renderer {
            version,
            markup,
            plain,
        })
    }

    /// Render for one recipient.
    ///
    /// # Errors
    /// As [`render`].
    pub fn render(&self, input: &RenderInput<'_>, platform: Platform) -> Result<RenderedMessage> {
        let (locale, variant) = self
            .version
            .content()
            .select(input.subscriber.locale.as_ref())?;
        self.render_variant(locale, variant, &context(input), platform, DataChecks::All)
    }

    pub(crate) fn render_variant(
        &self,
        locale: &Locale,
        variant: &Variant,
        ctx: &Value,
        platform: Platform,
        checks: DataChecks,
    ) -> Result<RenderedMessage> {
        let prefix = format!("locales.{}", locale.as_str());
        let text_field = format!("{prefix}.text");
        let raw_text = render_named(&self.markup, &text_field, &text_field, ctx)?;
        let nodes = markup::parse(raw_text.trim()).map_err(|problem| {
            Error::unprocessable("invalid_html", format!("{text_field}: {problem}"))
        })?;

        let photo_url = match &variant.photo_url {
            Some(_) => {
                let field = format!("{prefix}.photo_url");
                let url = render_named(&self.plain, &field, &field, ctx)?
                    .trim()
                    .to_owned();
                if checks == DataChecks::All && !url.is_empty() {
                    check_http_url(&url).map_err(|why| {
                        Error::unprocessable(
                            "invalid_photo_url",
                            format!("{field} renders to '{url}', {why}"),
                        )
                    })?;
                }
                Some(url).filter(|url| !url.is_empty())
            }
            None => None,
        };

        let mut buttons = Vec::with_capacity(variant.buttons.len());
        for (r, row) in variant.buttons.iter().enumerate() {
            let mut rendered_row = Vec::with_capacity(row.len());
            for (c, button) in row.iter().enumerate() {
                let field = format!("{prefix}.buttons[{r}][{c}]");
                rendered_row.push(self.render_button(&field, button, ctx, checks)?);
            }
            buttons.push(rendered_row);
        }

        let format = platform.text_format();
        let FormattedText {
            text,
            length: units,
        } = (format.write)(raw_text.trim(), &nodes);
        let limit = format.limit(photo_url.is_some());
        let what = if photo_url.is_some() {
            "caption"
        } else {
            "text"
        };
        if units > limit {
            let code = if photo_url.is_some() {
                "template_caption_too_long"
            } else {
                "template_text_too_long"
            };
            return Err(Error::unprocessable(
                code,
                format!(
                    "{text_field}: the {platform} {what} is {units} characters; at most {limit}"
                ),
            ));
        }
        if checks == DataChecks::All && units == 0 && photo_url.is_none() {
            return Err(Error::unprocessable(
                "template_text_empty",
                format!("{text_field} renders to an empty message"),
            ));
        }

        let approved_templates = platform.capabilities().approved_templates;
        let platform_template = match &variant.whatsapp_template {
            Some(spec) if approved_templates => {
                let mut parameters = Vec::with_capacity(spec.parameters.len());
                for i in 0..spec.parameters.len() {
                    let field = format!("{prefix}.whatsapp_template.parameters[{i}]");
                    let value = render_named(&self.plain, &field, &field, ctx)?;
                    // WhatsApp rejects parameters with new lines or tabs (error 132018).
                    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                    if value.chars().count() > MAX_WHATSAPP_PARAMETER_BYTES {
                        return Err(Error::unprocessable(
                            "template_text_too_long",
                            format!("{field} renders to more than {MAX_WHATSAPP_PARAMETER_BYTES} characters"),
                        ));
                    }
                    parameters.push(value);
                }
                Some(PlatformTemplate {
                    name: spec.name.clone(),
                    language: spec.language.clone(),
                    parameters,
                })
            }
            _ => None,
        };

        Ok(RenderedMessage {
            text,
            photo_url,
            buttons,
            platform_template,
            message_tag: variant.messenger_tag,
        })
    }

    fn render_button(
        &self,
        field: &str,
        button: &ButtonSpec,
        ctx: &Value,
        checks: DataChecks,
    ) -> Result<Button> {
        let text_field = format!("{field}.text");
        let text = render_named(&self.plain, &text_field, &text_field, ctx)?
            .trim()
            .to_owned();
        if checks == DataChecks::All && text.is_empty() {
            return Err(Error::unprocessable(
                "invalid_button",
                format!("{text_field} renders to an empty label"),
            ));
        }
        if text.chars().count() > MAX_RENDERED_BUTTON_TEXT_CHARS {
            return Err(Error::unprocessable(
                "invalid_button",
                format!(
                    "{text_field} renders to more than {MAX_RENDERED_BUTTON_TEXT_CHARS} characters"
                ),
            ));
        }
        match button {
            ButtonSpec::Url { .. } => {
                let url_field = format!("{field}.url");
                let url = render_named(&self.plain, &url_field, &url_field, ctx)?
                    .trim()
                    .to_owned();
                if checks == DataChecks::All {
                    check_http_url(&url).map_err(|why| {
                        Error::unprocessable(
                            "invalid_button_url",
                            format!("{url_field} renders to '{url}', {why}"),
                        )
                    })?;
                }
                Ok(Button::Url { text, url })
            }
            ButtonSpec::Rating { rating, .. } => Ok(Button::Rating {
                text,
                score: *rating,
            }),
        }
    }
}

/// Every template field of a variant: its name (the JSON path, used in errors), source and kind.
pub(crate) fn fields<'v>(
    locale: &Locale,
    variant: &'v Variant,
) -> Vec<(String, &'v str, FieldKind)> {
    let prefix = format!("locales.{}", locale.as_str());
    let mut fields = vec![(
        format!("{prefix}.text"),
        variant.text.as_str(),
        FieldKind::Markup,
    )];
    if let Some(photo_url) = &variant.photo_url {
        fields.push((
            format!("{prefix}.photo_url"),
            photo_url.as_str(),
            FieldKind::Plain,
        ));
    }
    for (r, row) in variant.buttons.iter().enumerate() {
        for (c, button) in row.iter().enumerate() {
            let field = format!("{prefix}.buttons[{r}][{c}]");
            match button {
                ButtonSpec::Url { text, url } => {
                    fields.push((format!("{field}.text"), text.as_str(), FieldKind::Plain));
                    fields.push((format!("{field}.url"), url.as_str(), FieldKind::Plain));
                }
                ButtonSpec::Rating { text, .. } => {
                    fields.push((format!("{field}.text"), text.as_str(), FieldKind::Plain))
                }
            }
        }
    }
    if let Some(spec) = &variant.whatsapp_template {
        for (i, parameter) in spec.parameters.iter().enumerate() {
            fields.push((
                format!("{prefix}.whatsapp_template.parameters[{i}]"),
                parameter.as_str(),
                FieldKind::Plain,
            ));
        }
    }
    fields
}

/// Whether `url` is an absolute http(s) URL with a host and no spaces; the error says why not.
pub(crate) fn check_http_url(url: &str) -> std::result::Result<(), &'static str> {
    if url.len() > MAX_URL_BYTES {
        return Err("which is longer than 2048 bytes");
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err("not an absolute http(s) URL");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.starts_with('@') {
        return Err("which has no host");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("which contains spaces or control characters; encode them");
    }
    Ok(())
}
