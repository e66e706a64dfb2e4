//! Exporting a campaign's feedback as CSV or JSON lines, by paging through its feedback log (never by
//! scanning the store). One call returns a bounded number of rows and where to continue.

use serde::Serialize;

use super::check_campaign_id;
use super::log::FeedbackLog;
use super::record::FeedbackRecord;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::KvStore;

/// An export response stops at the end of the log page on which it reaches this many rows (so it holds
/// fewer than this plus [`crate::index::PAGE_SIZE`]); the caller continues from [`ExportPage::next_from`].
pub const MAX_EXPORT_ROWS: usize = 5000;
/// The CSV header line (written on the first page only, so pages concatenate into one file).
pub const CSV_HEADER: &str = "type,campaign_id,subscriber_id,at,message_id,text,score,status";

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 CSV, safe to open in a spreadsheet.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl ExportFormat {
    /// Parse the `format` query parameter; absent means CSV.
    ///
    /// # Errors
    /// 400 `invalid_format`.
    pub fn parse(format: Option<&str>) -> Result<Self> {
        match format {
            None | Some("csv") => Ok(ExportFormat::Csv),
            Some("jsonl") => Ok(ExportFormat::JsonLines),
            Some(other) => Err(Error::invalid(
                "invalid_format",
                format!("format '{other}' is not one of: csv, jsonl"),
            )),
        }
    }

    /// The response's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::JsonLines => "application/x-ndjson",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::JsonLines => "jsonl",
        }
    }
}

/// One exported record: a reply (text), a rating (score), a button press (text: its data) or a receipt
/// (status; text: the platform's error for a failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    /// `reply`, `rating`, `button_press` or `receipt`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The campaign; null in the unattributed log.
    pub campaign_id: Option<String>,
    /// Who.
    pub subscriber_id: Option<String>,
    /// When (RFC 3339).
    pub at: String,
    /// The platform's id of the message or press.
    pub message_id: String,
    /// Reply text, button data or receipt error.
    pub text: Option<String>,
    /// Rating score.
    pub score: Option<u8>,
    /// Receipt state (`sent`, `delivered`, `read`, `failed`).
    pub status: Option<&'static str>,
}

impl From<FeedbackRecord> for ExportRow {
    fn from(record: FeedbackRecord) -> Self {
        let at =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match record {
            FeedbackRecord::Reply(r) => ExportRow {
                kind: "reply",
                campaign_id: r.campaign_id,
                subscriber_id: Some(r.subscriber.to_string()),
                at: at(r.at),
                message_id: r.message_id,
                text: Some(r.text),
                score: None,
                status: None,
            },
            FeedbackRecord::Rating(r) => ExportRow {
                kind: "rating",
                campaign_id: Some(r.campaign_id),
                subscriber_id: Some(r.subscriber.to_string()),
                at: at(r.at),
                message_id: r.press_id,
                text: None,
                score: Some(r.score),
                status: None,
            },
            FeedbackRecord::ButtonPress(r) => ExportRow {
                kind: "button_press",
                campaign_id: r.campaign_id,
                subscriber_id: Some(r.subscriber.to_string()),
                at: at(r.at),
                message_id: r.press_id,
                text: Some(r.data),
                score: None,
                status: None,
            },
            FeedbackRecord::Receipt(r) => ExportRow {
                kind: "receipt",
                campaign_id: r.campaign_id,
                subscriber_id: r.subscriber.map(|s| s.to_string()),
                at: at(r.at),
                message_id: r.message_id,
                text: r.error.map(|e| format!("{}: {}", e.code, e.title)),
                score: None,
                status: Some(status_name(r.status)),
            },
        }
    }
}

fn status_name(status: crate::event::ReceiptStatus) -> &'static str {
    use crate::event::ReceiptStatus::*;
    match status {
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
}

/// One page of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPage {
    /// The encoded rows.
    pub body: Vec<u8>,
    /// How many rows it holds.
    pub rows: usize,
    /// Where the next page starts, when the log holds more.
    pub next_from: Option<u64>,
}

/// Export a campaign's feedback log (`None`: the unattributed log) from position `from`.
///
/// # Errors
/// 400 `invalid_campaign_id`; store failures. Records that vanished or do not decode are skipped.
pub fn export_feedback<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: Option<&str>,
    format: ExportFormat,
    from: u64,
) -> Result<ExportPage> {
    if let Some(id) = campaign_id {
        check_campaign_id(id)?;
    }
    let log_name = keys::feedback_log(campaign_id);
    let log = FeedbackLog::named(&log_name);
    let end = log.end(store)?;
    let mut body = Vec::new();
    if format == ExportFormat::Csv && from == 0 {
        body.extend_from_slice(CSV_HEADER.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    let mut rows = 0;
    let mut position = from;
    while position < end && rows < MAX_EXPORT_ROWS {
        let (entries, next_page) = log.read_from(store, position)?;
        let record_keys: Vec<String> = entries.into_iter().map(|(_, key)| key).collect();
        for (_, value) in store.get_many(&record_keys)? {
            let Some(record) =
                value.and_then(|bytes| serde_json::from_slice::<FeedbackRecord>(&bytes).ok())
            else {
                continue;
            };
            write_row(&mut body, format, &ExportRow::from(record));
            rows += 1;
        }
        position = next_page;
    }
    Ok(ExportPage {
        body,
        rows,
        next_from: (position < end).then_some(position),
    })
}

fn write_row(body: &mut Vec<u8>, format: ExportFormat, row: &ExportRow) {
    match format {
        ExportFormat::JsonLines => {
            body.extend_from_slice(&crate::kv::encode(row));
            body.push(b'\n');
        }
        ExportFormat::Csv => {
            let score = row.score.map(|s| s.to_string());
            let cells = [
                Some(row.kind),
                row.campaign_id.as_deref(),
                row.subscriber_id.as_deref(),
                Some(row.at.as_str()),
                Some(row.message_id.as_str()),
                row.text.as_deref(),
                score.as_deref(),
                row.status,
            ];
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(csv_cell(cell.unwrap_or_default()).as_bytes());
            }
            body.extend_from_slice(b"\r\n");
        }
    }
}

/// One CSV cell: a cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
/// carriage return) gets a leading `'`; a cell holding a comma, quote or line break is quoted, with
/// quotes doubled (RFC 4180).
pub(crate) fn csv_cell(value: &str) -> String {
    let neutralised = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutralised.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutralised.replace('"', "\"\""))
    } else {
        neutralised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_per_rfc_4180() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell(""), "");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("crlf\r\nend"), "\"crlf\r\nend\"");
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_neutralised() {
        assert_eq!(
            csv_cell("=HYPERLINK(\"http://evil\")"),
            "\"'=HYPERLINK(\"\"http://evil\"\")\""
        );
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tcmd"), "'\tcmd");
        assert_eq!(csv_cell("a=b"), "a=b");
    }

    #[test]
    fn unknown_formats_are_rejected() {
        assert_eq!(ExportFormat::parse(None).unwrap(), ExportFormat::Csv);
        assert_eq!(
            ExportFormat::parse(Some("jsonl")).unwrap().content_type(),
            "application/x-ndjson"
        );
        assert_eq!(
            ExportFormat::parse(Some("csv")).unwrap().content_type(),
            "text/csv; charset=utf-8"
        );
        let err = ExportFormat::parse(Some("xlsx")).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.code(), "invalid_format");
    }
}
