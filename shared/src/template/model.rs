//! What a template is: an id, a head record naming its latest version, and immutable versions whose
//! content holds one variant per locale. Request bodies ([`NewTemplate`], [`TemplateUpdate`]) are parsed
//! into these types; the shape and size rules live here, the template-language rules in `validate`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::limits::{
    MAX_BUTTONS_PER_ROW, MAX_BUTTON_ROWS, MAX_BUTTON_TEXT_BYTES, MAX_LOCALES, MAX_PHOTO_URL_BYTES,
    MAX_TEMPLATE_ID_CHARS, MAX_TEMPLATE_NAME_CHARS, MAX_TEXT_BYTES, MAX_URL_BYTES,
    MAX_WHATSAPP_LANGUAGE_BYTES, MAX_WHATSAPP_NAME_BYTES, MAX_WHATSAPP_PARAMETERS,
    MAX_WHATSAPP_PARAMETER_BYTES,
};
use super::validate::Problems;
use crate::error::{Error, Result};
use crate::message::MessageTag;
use crate::newtype::{check_slug_id, validated_string};
use crate::subscriber::Locale;

validated_string! {
    /// A template id: 1 to 40 characters of `a-z`, `0-9`, `_` or `-`.
    pub struct TemplateId;
}

impl TemplateId {
    /// Parse an id given by a client or a URL.
    ///
    /// # Errors
    /// 400 `invalid_template_id` saying the allowed form.
    pub fn parse(s: &str) -> Result<Self> {
        check_slug_id(
            s,
            MAX_TEMPLATE_ID_CHARS,
            "invalid_template_id",
            "template id",
        )?;
        Ok(TemplateId(s.to_owned()))
    }

    /// Derive an id from a display name: `Summer Sale 2026!` becomes `summer-sale-2026`.
    ///
    /// # Errors
    /// 400 `invalid_template_id` when the name has no letters or digits to build an id from.
    pub fn from_name(name: &str) -> Result<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        slug.truncate(MAX_TEMPLATE_ID_CHARS);
        let slug = slug.trim_end_matches('-');
        if slug.is_empty() {
            return Err(Error::invalid(
                "invalid_template_id",
                format!("cannot derive an id from the name '{name}'; send an 'id' of a-z, 0-9, '_' or '-'"),
            ));
        }
        Self::parse(slug)
    }
}

/// Check a template's display name: 1 to [`MAX_TEMPLATE_NAME_CHARS`] characters after trimming.
///
/// # Errors
/// 400 `invalid_name`.
pub fn parse_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_TEMPLATE_NAME_CHARS {
        return Err(Error::invalid(
            "invalid_name",
            format!("a template name is 1-{MAX_TEMPLATE_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// The head record of a template: its name and which version is the latest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateHead {
    /// The id.
    pub id: TemplateId,
    /// The display name.
    pub name: String,
    /// The newest version; 0 only while the first version is being written.
    pub latest_version: u32,
    /// When the template was created.
    pub created_at: DateTime<Utc>,
    /// When the last version was added or the name changed.
    pub updated_at: DateTime<Utc>,
}

/// One immutable version of a template. Campaigns pin the version they were scheduled with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    template_id: TemplateId,
    version: u32,
    #[serde(flatten)]
    content: TemplateContent,
    created_at: DateTime<Utc>,
}

impl TemplateVersion {
    /// A version of `template_id` holding already validated `content`.
    pub fn new(
        template_id: TemplateId,
        version: u32,
        content: TemplateContent,
        created_at: DateTime<Utc>,
    ) -> Self {
        TemplateVersion {
            template_id,
            version,
            content,
            created_at,
        }
    }

    /// The template's id.
    pub fn template_id(&self) -> &str {
        self.template_id.as_str()
    }

    /// The version number, from 1.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The locales and their variants.
    pub fn content(&self) -> &TemplateContent {
        &self.content
    }

    /// When the version was saved.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// A version's content: a variant per locale and the locale to fall back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateContent {
    default_locale: Locale,
    locales: BTreeMap<Locale, Variant>,
}

impl TemplateContent {
    /// Parse and check the shape and sizes of a request's content (not the template language; see
    /// `validate`). Without `default_locale`, a single locale is the default.
    ///
    /// # Errors
    /// 422 `invalid_template` listing every problem under `details.problems`.
    pub fn parse(default_locale: Option<&str>, locales: BTreeMap<String, Variant>) -> Result<Self> {
        let mut problems = Problems::default();
        if locales.is_empty() {
            problems.add(
                "locales",
                "give at least one locale, e.g. {\"en\": {\"text\": \"Hello\"}}",
            );
        }
        if locales.len() > MAX_LOCALES {
            problems.add(
                "locales",
                format!("at most {MAX_LOCALES} locales; got {}", locales.len()),
            );
        }
        let mut parsed = BTreeMap::new();
        for (tag, variant) in locales {
            let field = format!("locales.{tag}");
            match Locale::parse(&tag) {
                Ok(locale) => {
                    variant.check_shape(&field, &mut problems);
                    if parsed.insert(locale.clone(), variant).is_some() {
                        problems.add(
                            &field,
                            format!("locale '{}' is given twice", locale.as_str()),
                        );
                    }
                }
                Err(err) => problems.add(&field, err.message()),
            }
        }
        let default_locale = match default_locale {
            Some(tag) => match Locale::parse(tag) {
                Ok(locale) if parsed.contains_key(&locale) => Some(locale),
                Ok(locale) => {
                    problems.add(
                        "default_locale",
                        format!("'{}' has no variant under 'locales'", locale.as_str()),
                    );
                    None
                }
                Err(err) => {
                    problems.add("default_locale", err.message());
                    None
                }
            },
            None if parsed.len() == 1 => parsed.keys().next().cloned(),
            None => {
                problems.add(
                    "default_locale",
                    "with several locales, name the one to fall back to",
                );
                None
            }
        };
        problems.into_result()?;
        match default_locale {
            Some(default_locale) => Ok(TemplateContent {
                default_locale,
                locales: parsed,
            }),
            None => Err(Error::internal("default locale missing after validation")),
        }
    }

    /// The locale used when the subscriber's is not available.
    pub fn default_locale(&self) -> &Locale {
        &self.default_locale
    }

    /// Every variant by locale.
    pub fn locales(&self) -> &BTreeMap<Locale, Variant> {
        &self.locales
    }

    /// The variant for a subscriber's locale: the exact locale, else its language (`pt` for `pt-BR`),
    /// else the default locale.
    ///
    /// # Errors
    /// 500 when a stored record lacks its default variant (content is never built that way).
    pub fn select(&self, locale: Option<&Locale>) -> Result<(&Locale, &Variant)> {
        let found = locale.and_then(|wanted| {
            self.locales.get_key_value(wanted).or_else(|| {
                Locale::parse(wanted.language())
                    .ok()
                    .and_then(|language| self.locales.get_key_value(&language))
            })
        });
        found
            .or_else(|| self.locales.get_key_value(&self.default_locale))
            .ok_or_else(|| {
                Error::internal(format!(
                    "template content has no variant for its default locale '{}'",
                    self.default_locale.as_str()
                ))
            })
    }
}

/// The message for one locale. Every string is a template (minijinja source).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The text (Telegram HTML: the author's markup is kept, substituted values are escaped).
    pub text: String,
    /// A photo to send with the text as its caption; rendering to an empty string sends no photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    /// Rows of buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<ButtonSpec>>,
    /// An approved WhatsApp template for recipients outside the 24-hour service window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_template: Option<WhatsappTemplateSpec>,
    /// The Messenger message tag that lets this transactional message reach people outside the
    /// 24-hour standard messaging window (`CONFIRMED_EVENT_UPDATE`, `POST_PURCHASE_UPDATE`,
    /// `ACCOUNT_UPDATE`); never for promotions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messenger_tag: Option<MessageTag>,
}

impl Variant {
    fn check_shape(&self, field: &str, problems: &mut Problems) {
        check_len(
            problems,
            &format!("{field}.text"),
            &self.text,
            MAX_TEXT_BYTES,
        );
        if let Some(photo_url) = &self.photo_url {
            check_len(
                problems,
                &format!("{field}.photo_url"),
                photo_url,
                MAX_PHOTO_URL_BYTES,
            );
        }
        if self.buttons.len() > MAX_BUTTON_ROWS {
            problems.add(
                &format!("{field}.buttons"),
                format!("at most {MAX_BUTTON_ROWS} rows of buttons"),
            );
        }
        for (r, row) in self.buttons.iter().enumerate() {
            let row_field = format!("{field}.buttons[{r}]");
            if row.is_empty() {
                problems.add(&row_field, "a row holds at least one button");
            }
            if row.len() > MAX_BUTTONS_PER_ROW {
                problems.add(
                    &row_field,
                    format!("at most {MAX_BUTTONS_PER_ROW} buttons in a row"),
                );
            }
            for (c, button) in row.iter().enumerate() {
                let button_field = format!("{row_field}[{c}]");
                match button {
                    ButtonSpec::Url { text, url } => {
                        check_len(
                            problems,
                            &format!("{button_field}.text"),
                            text,
                            MAX_BUTTON_TEXT_BYTES,
                        );
                        check_len(problems, &format!("{button_field}.url"), url, MAX_URL_BYTES);
                    }
                    ButtonSpec::Rating { text, rating } => {
                        check_len(
                            problems,
                            &format!("{button_field}.text"),
                            text,
                            MAX_BUTTON_TEXT_BYTES,
                        );
                        if !(1..=5).contains(rating) {
                            problems.add(&format!("{button_field}.rating"), "a rating is 1 to 5");
                        }
                    }
                }
            }
        }
        if let Some(wa) = &self.whatsapp_template {
            let wa_field = format!("{field}.whatsapp_template");
            check_len(
                problems,
                &format!("{wa_field}.name"),
                &wa.name,
                MAX_WHATSAPP_NAME_BYTES,
            );
            check_len(
                problems,
                &format!("{wa_field}.language"),
                &wa.language,
                MAX_WHATSAPP_LANGUAGE_BYTES,
            );
            if wa.parameters.len() > MAX_WHATSAPP_PARAMETERS {
                problems.add(
                    &format!("{wa_field}.parameters"),
                    format!("at most {MAX_WHATSAPP_PARAMETERS} parameters"),
                );
            }
            for (i, parameter) in wa.parameters.iter().enumerate() {
                if parameter.len() > MAX_WHATSAPP_PARAMETER_BYTES {
                    problems.add(
                        &format!("{wa_field}.parameters[{i}]"),
                        format!("at most {MAX_WHATSAPP_PARAMETER_BYTES} bytes"),
                    );
                }
            }
        }
    }
}

fn check_len(problems: &mut Problems, field: &str, value: &str, max_bytes: usize) {
    if value.trim().is_empty() {
        problems.add(field, "must not be empty");
    } else if value.len() > max_bytes {
        problems.add(
            field,
            format!("is {} bytes; at most {max_bytes}", value.len()),
        );
    }
}

/// A button as the author writes it: `{"text": "Open", "url": "https://…"}` or `{"text": "★★★★★", "rating": 5}`.
/// Label and URL are templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ButtonSpec {
    /// Opens a URL.
    Url {
        /// The label (template).
        text: String,
        /// The URL (template); must render to an absolute http(s) URL.
        url: String,
    },
    /// Records a rating of the campaign.
    Rating {
        /// The label (template).
        text: String,
        /// The score, 1 to 5.
        rating: u8,
    },
}

/// An approved WhatsApp template: name and language are fixed, parameters are templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplateSpec {
    /// The approved template's name.
    pub name: String,
    /// Its language code, e.g. `en_US`.
    pub language: String,
    /// Body parameters, in order (templates).
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// `POST /api/v1/templates`: a new template and its version 1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    /// The id; derived from the name when absent.
    pub id: Option<String>,
    /// The display name.
    pub name: String,
    /// The fallback locale; optional with a single locale.
    pub default_locale: Option<String>,
    /// A variant per locale tag.
    pub locales: BTreeMap<String, Variant>,
}

/// `PUT /api/v1/templates/:id`: a new version, and optionally a new name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateUpdate {
    /// A new display name.
    pub name: Option<String>,
    /// The fallback locale; optional with a single locale.
    pub default_locale: Option<String>,
    /// A variant per locale tag.
    pub locales: BTreeMap<String, Variant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(text: &str) -> Variant {
        Variant {
            text: text.into(),
            ..Variant::default()
        }
    }

    fn locale(s: &str) -> Locale {
        Locale::parse(s).unwrap()
    }

    #[test]
    fn ids_are_slugs_and_can_be_derived_from_names() {
        assert_eq!(
            TemplateId::parse("summer-sale_2").unwrap().as_str(),
            "summer-sale_2"
        );
        assert_eq!(
            TemplateId::parse("Summer").unwrap_err().code(),
            "invalid_template_id"
        );
        assert!(TemplateId::parse(&"a".repeat(41)).is_err());
        assert_eq!(
            TemplateId::from_name("  Summer Sale 2026! ")
                .unwrap()
                .as_str(),
            "summer-sale-2026"
        );
        assert_eq!(
            TemplateId::from_name(&"Long name ".repeat(10))
                .unwrap()
                .as_str()
                .len(),
            39
        );
        assert!(TemplateId::from_name("!!!").is_err());
    }

    #[test]
    fn locale_fallback_goes_exact_then_language_then_default() {
        let locales = BTreeMap::from([
            ("en".into(), variant("Hello")),
            ("pt".into(), variant("Olá")),
            ("pt-PT".into(), variant("Olá PT")),
        ]);
        let content = TemplateContent::parse(Some("en"), locales).unwrap();
        assert_eq!(
            content.select(Some(&locale("pt-PT"))).unwrap().1.text,
            "Olá PT"
        );
        let (chosen, brazil) = content.select(Some(&locale("pt-BR"))).unwrap();
        assert_eq!((chosen.as_str(), brazil.text.as_str()), ("pt", "Olá"));
        assert_eq!(content.select(Some(&locale("de"))).unwrap().1.text, "Hello");
        assert_eq!(content.select(None).unwrap().1.text, "Hello");
    }

    #[test]
    fn content_shape_problems_are_all_listed() {
        let bad_button = ButtonSpec::Rating {
            text: "★".into(),
            rating: 9,
        };
        let mut too_wide = variant("Hi");
        too_wide.buttons = vec![vec![bad_button; MAX_BUTTONS_PER_ROW + 1]];
        let locales = BTreeMap::from([
            ("en".into(), too_wide),
            ("xx_".into(), variant("x")),
            ("de".into(), variant(&"x".repeat(MAX_TEXT_BYTES + 1))),
        ]);
        let err = TemplateContent::parse(None, locales).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "invalid_template"));
        let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        let fields: Vec<&str> = body["error"]["details"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["field"].as_str().unwrap())
            .collect();
        for expected in [
            "locales.en.buttons[0]",
            "locales.en.buttons[0][0].rating",
            "locales.xx_",
            "locales.de.text",
            "default_locale",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn a_single_locale_is_the_default_and_a_missing_default_is_named() {
        let content =
            TemplateContent::parse(None, BTreeMap::from([("pt_br".into(), variant("Olá"))]))
                .unwrap();
        assert_eq!(content.default_locale().as_str(), "pt-BR");
        let err =
            TemplateContent::parse(Some("de"), BTreeMap::from([("en".into(), variant("Hi"))]))
                .unwrap_err();
        err.assert_mentions("default_locale");
    }

    #[test]
    fn buttons_parse_as_url_or_rating() {
        let rows: Vec<Vec<ButtonSpec>> = serde_json::from_str(
            r#"[[{"text":"Shop","url":"https://x.test"},{"text":"★","rating":1}]]"#,
        )
        .unwrap();
        assert!(matches!(rows[0][0], ButtonSpec::Url { .. }));
        assert!(matches!(rows[0][1], ButtonSpec::Rating { rating: 1, .. }));
        assert!(serde_json::from_str::<ButtonSpec>(r#"{"text":"x","callback":"y"}"#).is_err());
    }
}
