//! hyper answers a request line it cannot parse (a raw non-ASCII byte in the path, say) with a bare 400
//! and no body. The first request line of each connection is read here first, so such a request gets
//! the JSON error every other refusal gets; otherwise the bytes read are replayed to hyper unchanged.
//!
//! Only the first request of a connection is screened: later requests on a kept-alive connection
//! still get hyper's bare 400 (clients open a new connection after it, as hyper closes this one).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// More than any request line a route of this application has; a longer one is left to hyper.
const MAX_REQUEST_LINE: usize = 8 * 1024;

/// A client that sends nothing for this long is left to hyper's own handling.
const REQUEST_LINE_WAIT: Duration = Duration::from_secs(10);

/// Read the connection's first request line; answer a target hyper cannot parse with a JSON 400 and
/// close, or give the connection back with what was read still to be read.
pub(crate) async fn screen(mut stream: TcpStream) -> Option<Replay<TcpStream>> {
    let mut head = Vec::new();
    let read_line = async {
        let mut chunk = [0u8; 1024];
        while !head.contains(&b'\n') && head.len() < MAX_REQUEST_LINE {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..read]);
        }
        Ok::<_, io::Error>(())
    };
    if let Ok(Err(_)) = tokio::time::timeout(REQUEST_LINE_WAIT, read_line).await {
        return None;
    }
    if let Some(problem) = target_problem(&head) {
        eprintln!("- <unparsable request target> -> - 400: {problem}");
        let body = serde_json::json!({ "error": { "code": "invalid_path", "message": problem } })
            .to_string();
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        // The client may already be gone; there is nobody else to tell.
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        return None;
    }
    Some(Replay {
        pending: head,
        replayed: 0,
        inner: stream,
    })
}

/// What is wrong with the target of a complete request line, when hyper would refuse it; `None` for
/// a valid target or anything that is not a whole request line (hyper answers those itself).
fn target_problem(head: &[u8]) -> Option<&'static str> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (_method, target, _version) = (parts.next()?, parts.next()?, parts.next()?);
    if target.iter().any(|b| !b.is_ascii()) {
        return Some("the request path holds a raw byte that is not ASCII; percent-encode it (e.g. %C3%A9 for é)");
    }
    match http::Uri::try_from(target) {
        Ok(_) => None,
        Err(_) => Some("the request target is not a valid path and query; percent-encode reserved and control characters"),
    }
}

/// A connection whose first bytes were already read: they are read again first.
pub(crate) struct Replay<S> {
    pending: Vec<u8>,
    replayed: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.pending.len() {
            let rest = &this.pending[this.replayed..];
            let taken = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..taken]);
            this.replayed += taken;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_and_invalid_targets_are_refused_and_everything_else_is_left_to_hyper() {
        assert!(target_problem(b"GET /api/v1/subscribers/\xff HTTP/1.1\r\nhost: x\r\n").is_some());
        assert!(target_problem(b"GET /caf\xc3\xa9 HTTP/1.1\r\n").is_some());
        assert!(target_problem(b"GET /a\x01b HTTP/1.1\r\n").is_some());
        for fine in [
            &b"GET /api/v1/subscribers/caf%C3%A9?x=1 HTTP/1.1\r\nhost: x\r\n"[..],
            b"GET /\xff",
            b"garbage\r\n",
            b"",
        ] {
            assert_eq!(
                target_problem(fine),
                None,
                "{}",
                String::from_utf8_lossy(fine)
            );
        }
    }
}
