//! Size limits on template content and rendering, in one place.

/// The longest template id.
pub const MAX_TEMPLATE_ID_CHARS: usize = 40;
/// The longest display name.
pub const MAX_TEMPLATE_NAME_CHARS: usize = 200;
/// Locales per version.
pub const MAX_LOCALES: usize = 20;
/// The source of a variant's text.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;
/// The source of a photo URL.
pub const MAX_PHOTO_URL_BYTES: usize = 2048;
/// Rows of buttons.
pub const MAX_BUTTON_ROWS: usize = 8;
/// Buttons in one row.
pub const MAX_BUTTONS_PER_ROW: usize = 8;
/// The source of a button label.
pub const MAX_BUTTON_TEXT_BYTES: usize = 256;
/// The source of a button URL.
pub const MAX_URL_BYTES: usize = 2048;
/// A WhatsApp template name (Meta allows 512).
pub const MAX_WHATSAPP_NAME_BYTES: usize = 512;
/// A WhatsApp language code.
pub const MAX_WHATSAPP_LANGUAGE_BYTES: usize = 16;
/// Body parameters of a WhatsApp template.
pub const MAX_WHATSAPP_PARAMETERS: usize = 20;
/// The source of one WhatsApp parameter, and its rendered length in characters.
pub const MAX_WHATSAPP_PARAMETER_BYTES: usize = 1024;

/// The longest rendered button label, in characters.
pub const MAX_RENDERED_BUTTON_TEXT_CHARS: usize = 64;

/// Work budget for rendering a text: about 50,000 instructions (a few milliseconds), far above what a
/// message needs and far below a loop that never ends.
pub const TEXT_FUEL: u64 = 50_000;
/// Work budget for each short field (photo URL, button label or URL, WhatsApp parameter).
pub const FIELD_FUEL: u64 = 5_000;
/// Nesting depth of macros, loops and conditions (minijinja's own counter; a macro call costs several).
pub const RECURSION_LIMIT: usize = 100;
/// The most bytes one field may render to before rendering stops; well above the platform limits so
/// the message-length check, not this cap, reports ordinary long texts.
pub const MAX_OUTPUT_BYTES: usize = 32 * 1024;
