//! The SMS and WAP Push gateway (Kannel) as the notices use it: a text SMS through
//! smsbox's sendsms interface, a WAP Push Service Indication through wapbox's Push
//! Proxy Gateway (PAP over HTTP, multipart/related). Plain HTTP/1.1, one request per
//! connection: a notice is rare, and the gateway sits beside radcare.

use std::time::Duration;

use hyper::Method;

use crate::config::NoticesConfig;
use crate::io::http_client::{self, Call, HttpError};

/// Longest a gateway step may take: the connection, the answer, each piece of it.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A gateway's answer is a line or a PAP document.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0} is not configured")]
    Unconfigured(&'static str),
    #[error("the gateway: {0}")]
    Http(#[from] HttpError),
    #[error("the gateway refused: HTTP {0}: {1}")]
    Refused(u16, String),
    #[error("the PPG refused the push: PAP code {0}")]
    PapRefused(String),
}

/// An `http://host:port/path` URL, taken apart. The authority is what is dialled; the
/// path (and its query) is what is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    authority: String,
    path: String,
}

impl HttpTarget {
    pub fn parse(url: &str) -> Option<HttpTarget> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        (has_port && !authority.contains('@')).then(|| HttpTarget {
            authority: authority.into(),
            path: path.into(),
        })
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for an XML attribute or element.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A phone number as PAP's address wants it: international, with its `+`.
fn international(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}

/// One request to `target`; the answer's status and body.
async fn request(
    target: &HttpTarget,
    method: Method,
    path: String,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<(u16, String), GatewayError> {
    let url = format!("http://{}{path}", target.authority);
    // Few headers: the PPG carries the pusher's headers into the push, and more would
    // split it over two SMS.
    let call = Call {
        method,
        url: &url,
        headers: &[],
        body: content_type.map(|t| (t, body)),
        timeout: TIMEOUT,
    };
    let (status, answer) = http_client::call(call, MAX_ANSWER).await?;
    Ok((status, String::from_utf8_lossy(&answer).into_owned()))
}

/// The first line of a refusal, short enough for a log line and a store column.
fn first_line(body: &str) -> String {
    body.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// Sends `text` to `to` by SMS through smsbox's sendsms interface.
pub async fn send_sms(cfg: &NoticesConfig, to: &str, text: &str) -> Result<(), GatewayError> {
    let url = cfg
        .sendsms_url
        .as_deref()
        .ok_or(GatewayError::Unconfigured("sendsms_url"))?;
    let target = HttpTarget::parse(url).ok_or(GatewayError::Unconfigured("sendsms_url"))?;
    let user = cfg
        .username
        .as_deref()
        .ok_or(GatewayError::Unconfigured("username"))?;
    let password = cfg
        .password
        .as_ref()
        .ok_or(GatewayError::Unconfigured("password"))?;
    let sep = if target.path.contains('?') { '&' } else { '?' };
    let mut path = format!(
        "{}{sep}username={}&password={}&to={}&text={}",
        target.path,
        encode(user),
        encode(&password.0),
        encode(to),
        encode(text)
    );
    if let Some(from) = &cfg.from {
        path.push_str(&format!("&from={}", encode(from)));
    }
    // The path carries the password: it goes into no error and no log.
    let (status, body) = request(&target, Method::GET, path, None, Vec::new()).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(GatewayError::Refused(status, first_line(&body)))
    }
}

/// What a Service Indication says.
pub struct Indication<'a> {
    /// Unique per notice: a phone shows the latest SI of an id only.
    pub id: &'a str,
    pub href: &'a str,
    pub text: &'a str,
}

const BOUNDARY: &str = "radcare-pap-boundary";

/// The PAP push request: the control entity, then the SI for the user agent.
fn pap_body(to: &str, si: &Indication<'_>) -> Vec<u8> {
    let address = format!("WAPPUSH={}/TYPE=PLMN@ppg", international(to));
    format!(
        "--{BOUNDARY}\r\n\
         Content-Type: application/xml\r\n\r\n\
         <?xml version=\"1.0\"?>\n\
         <!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD PAP 1.0//EN\" \
         \"http://www.wapforum.org/DTD/pap_1.0.dtd\">\n\
         <pap><push-message push-id=\"{id}\">\
         <address address-value=\"{address}\"/>\
         <quality-of-service delivery-method=\"unconfirmed\" network=\"GSM\" bearer=\"SMS\"/>\
         </push-message></pap>\r\n\
         --{BOUNDARY}\r\n\
         Content-Type: text/vnd.wap.si\r\n\
         X-Wap-Application-Id: x-wap-application:wml.ua\r\n\r\n\
         <?xml version=\"1.0\"?>\n\
         <!DOCTYPE si PUBLIC \"-//WAPFORUM//DTD SI 1.0//EN\" \
         \"http://www.wapforum.org/DTD/si.dtd\">\n\
         <si><indication href=\"{href}\" si-id=\"{id}\" action=\"signal-medium\">{text}\
         </indication></si>\r\n\
         --{BOUNDARY}--\r\n",
        id = xml(si.id),
        address = xml(&address),
        href = xml(si.href),
        text = xml(si.text),
    )
    .into_bytes()
}

/// The PAP result code of a push response (`code="1001"`: accepted for processing).
fn pap_code(body: &str) -> Option<&str> {
    let after = &body[body.find("response-result")?..];
    let after = &after[after.find("code")? + 4..];
    let start = after.find(|c: char| c.is_ascii_digit())?;
    let digits = &after[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    Some(&digits[..end])
}

/// Pushes a Service Indication to `to` through the PPG.
pub async fn send_wap_push(
    cfg: &NoticesConfig,
    to: &str,
    si: &Indication<'_>,
) -> Result<(), GatewayError> {
    let url = cfg
        .ppg_url
        .as_deref()
        .ok_or(GatewayError::Unconfigured("ppg_url"))?;
    let target = HttpTarget::parse(url).ok_or(GatewayError::Unconfigured("ppg_url"))?;
    let content_type = format!("multipart/related; boundary={BOUNDARY}; type=\"application/xml\"");
    let (status, body) = request(
        &target,
        Method::POST,
        target.path.clone(),
        Some(&content_type),
        pap_body(to, si),
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(GatewayError::Refused(status, first_line(&body)));
    }
    // 1000 accepted, 1001 accepted for processing; 2xxx and 3xxx are refusals.
    match pap_code(&body) {
        Some("1000" | "1001") => Ok(()),
        code => Err(GatewayError::PapRefused(code.unwrap_or("none").into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http_with_a_port() {
        let t = HttpTarget::parse("http://127.0.0.1:13013/cgi-bin/sendsms").unwrap();
        assert_eq!(t.authority, "127.0.0.1:13013");
        assert_eq!(t.path, "/cgi-bin/sendsms");
        assert_eq!(
            HttpTarget::parse("http://gw:80").unwrap().path,
            "/",
            "no path is the root"
        );
        for bad in [
            "https://gw:443/x",
            "http://gw/x",
            "http://:80/x",
            "http://u:p@gw:80/x",
            "gw:80",
        ] {
            assert!(HttpTarget::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("RADCARE OTA http://h:1/a?b=c&d"),
            "RADCARE%20OTA%20http%3A%2F%2Fh%3A1%2Fa%3Fb%3Dc%26d"
        );
        assert_eq!(encode("+49-1.5_~"), "%2B49-1.5_~");
    }

    #[test]
    fn the_push_addresses_an_international_number_and_escapes_the_si() {
        let body = pap_body(
            "0049 151",
            &Indication {
                id: "radcare-7-0",
                href: "http://h:1/x?a=1&b=2",
                text: "fw <2>",
            },
        );
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("address-value=\"WAPPUSH=+0049151/TYPE=PLMN@ppg\""));
        assert!(body.contains("href=\"http://h:1/x?a=1&amp;b=2\""));
        assert!(body.contains(">fw &lt;2&gt;</indication>"));
        assert!(body.ends_with("--radcare-pap-boundary--\r\n"));
    }

    #[test]
    fn pap_result_codes_are_read_as_kannel_writes_them() {
        let ok = "<pap><push-response push-id=\"x\"><response-result code =\"1001\" \
                  desc=\"accepted\"></response-result></push-response></pap>";
        assert_eq!(pap_code(ok), Some("1001"));
        let bad = "<pap><badmessage-response code=\"2000\"/><response-result code=\"2002\"/>";
        assert_eq!(pap_code(bad), Some("2002"));
        assert_eq!(pap_code("nothing"), None);
    }
}
