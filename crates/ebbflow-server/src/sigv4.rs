//! AWS Signature Version 4, verified: the `Authorization` header form and
//! the presigned query form, as AWS specifies them for services other than S3
//! (paths normalized, each segment URI-encoded).
//!
//! Everything the signature covers is rebuilt from the request itself: the
//! body's hash is computed, never taken from `x-amz-content-sha256`; the
//! signing date is the credential scope's and must match `X-Amz-Date`; a
//! request more than 15 minutes from the server's clock is refused; the
//! signatures are compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far a request's time may be from the server's.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The longest a presigned URL may be valid: seven days, as AWS allows.
pub const MAX_EXPIRES: u64 = 604_800;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why a request is not authenticated, with SQS's error code for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither an `Authorization` header nor a presigned query.
    #[error("the request is not signed")]
    Missing,
    /// A signature that cannot be read.
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    /// The access key is not one of the server's.
    #[error("the access key `{0}` is not known")]
    UnknownKey(String),
    /// The signature is not the request's.
    #[error("the request signature we calculated does not match the signature you provided")]
    Mismatch,
    /// Signed too long ago, too far ahead, or past a presigned URL's expiry.
    #[error("the request is signed for {0}, outside the time the server accepts")]
    Expired(String),
    /// A presigned URL asking to be valid longer than [`MAX_EXPIRES`].
    #[error("X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}, not {0}")]
    ExpiresTooLong(u64),
    /// The credential scope is for another region or service.
    #[error("Credential should be scoped to {0}")]
    WrongScope(String),
}

impl AuthError {
    /// SQS's code for it.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationToken",
            AuthError::Malformed(_) => "IncompleteSignature",
            AuthError::UnknownKey(_) => "InvalidClientTokenId",
            AuthError::Mismatch => "SignatureDoesNotMatch",
            AuthError::Expired(_) => "RequestExpired",
            AuthError::ExpiresTooLong(_) => "AuthorizationQueryParametersError",
            AuthError::WrongScope(_) => "SignatureDoesNotMatch",
        }
    }
}

/// A request as the verifier needs it: what arrived, unchanged.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent (percent-encoded or not).
    pub path: &'a str,
    /// The query string without `?`, as sent.
    pub query: &'a str,
    /// Every header, names in any case, repeated names as they came.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The access key id.
    pub access_key_id: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope.
    pub service: String,
}

impl Signer {
    /// Whether the credential scope is this server's `region` and `service`,
    /// as AWS checks it (a signature for another region is refused even
    /// when it holds).
    pub fn in_scope(&self, region: &str, service: &str) -> Result<(), AuthError> {
        if self.region != region {
            return Err(AuthError::WrongScope(format!(
                "a valid region, not '{}'",
                truncated(&self.region)
            )));
        }
        if self.service != service {
            return Err(AuthError::WrongScope(format!(
                "correct service: '{service}', not '{}'",
                truncated(&self.service)
            )));
        }
        Ok(())
    }
}

/// At most 64 characters of a client's text, for an error message.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The parts of a signature, from the header or the query.
struct Signature {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    presigned: Option<u64>,
}

/// Verifies `request`'s signature with the secret `secret_of` gives for its
/// access key, at time `now`.
///
/// ```
/// use ebbflow_server::sigv4::{verify, Request, AuthError};
/// let headers = vec![("Host".to_owned(), "example.amazonaws.com".to_owned())];
/// let request = Request { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
/// let no_key = |_: &str| None::<String>;
/// assert_eq!(verify(&request, &no_key, std::time::SystemTime::now()), Err(AuthError::Missing));
/// ```
pub fn verify(
    request: &Request<'_>,
    secret_of: &dyn Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Signer, AuthError> {
    let sig = read_signature(request)?;
    let Some(secret) = secret_of(&sig.access_key_id) else {
        return Err(AuthError::UnknownKey(sig.access_key_id));
    };
    let signed_at = parse_amz_date(&sig.amz_date).ok_or_else(|| {
        AuthError::Malformed(format!(
            "X-Amz-Date `{}` is not YYYYMMDD'T'HHMMSS'Z'",
            sig.amz_date
        ))
    })?;
    if !sig.amz_date.starts_with(&sig.date) {
        return Err(AuthError::Malformed(format!(
            "the credential scope's date {} is not the date of X-Amz-Date {}",
            sig.date, sig.amz_date
        )));
    }
    check_time(signed_at, sig.presigned, now, &sig.amz_date)?;
    if let Some(claimed) = header(request.headers, "x-amz-content-sha256") {
        let computed = hex(&Sha256::digest(request.body));
        if claimed != "UNSIGNED-PAYLOAD" && !claimed.eq_ignore_ascii_case(&computed) {
            return Err(AuthError::Mismatch);
        }
    }
    let canonical = canonical_request(request, &sig.signed_headers, sig.presigned.is_some())?;
    let scope = format!("{}/{}/{}/aws4_request", sig.date, sig.region, sig.service);
    let to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        sig.amz_date,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), sig.date.as_bytes());
    for part in [sig.region.as_str(), sig.service.as_str(), "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, to_sign.as_bytes()));
    if !constant_time_eq(
        expected.as_bytes(),
        sig.signature.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(AuthError::Mismatch);
    }
    Ok(Signer {
        access_key_id: sig.access_key_id,
        region: sig.region,
        service: sig.service,
    })
}

fn check_time(
    signed_at: u64,
    presigned: Option<u64>,
    now: SystemTime,
    amz_date: &str,
) -> Result<(), AuthError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let skew = MAX_SKEW.as_secs();
    let ok = match presigned {
        // A presigned URL is good from its date (give or take the skew) until it expires.
        Some(expires) => signed_at <= now + skew && now <= signed_at.saturating_add(expires),
        None => signed_at.abs_diff(now) <= skew,
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::Expired(amz_date.to_owned()))
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The query's pairs, percent-decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn read_signature(request: &Request<'_>) -> Result<Signature, AuthError> {
    if let Some(auth) = header(request.headers, "authorization") {
        let rest = auth.strip_prefix(ALGORITHM).ok_or_else(|| {
            AuthError::Malformed(format!("the Authorization header is not {ALGORITHM}"))
        })?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=').unwrap_or(("", ""));
            match k {
                "Credential" => credential = Some(v.to_owned()),
                "SignedHeaders" => signed = Some(v.to_owned()),
                "Signature" => signature = Some(v.to_owned()),
                _ => {}
            }
        }
        let amz_date = header(request.headers, "x-amz-date")
            .ok_or_else(|| AuthError::Malformed("X-Amz-Date is missing".to_owned()))?
            .to_owned();
        return assemble(credential, signed, signature, amz_date, None);
    }
    let pairs = query_pairs(request.query);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Err(AuthError::Missing);
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::Malformed(format!(
            "X-Amz-Algorithm is not {ALGORITHM}"
        )));
    }
    let expires = get("X-Amz-Expires")
        .map(|e| {
            e.parse::<u64>()
                .map_err(|_| AuthError::Malformed("X-Amz-Expires is not a number".to_owned()))
        })
        .transpose()?
        .unwrap_or(MAX_SKEW.as_secs());
    if expires > MAX_EXPIRES {
        return Err(AuthError::ExpiresTooLong(expires));
    }
    let amz_date = get("X-Amz-Date")
        .ok_or_else(|| AuthError::Malformed("X-Amz-Date is missing".to_owned()))?;
    assemble(
        get("X-Amz-Credential"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
        amz_date,
        Some(expires),
    )
}

fn assemble(
    credential: Option<String>,
    signed: Option<String>,
    signature: Option<String>,
    amz_date: String,
    presigned: Option<u64>,
) -> Result<Signature, AuthError> {
    let missing = |what: &str| AuthError::Malformed(format!("{what} is missing"));
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(AuthError::Malformed(format!(
            "Credential `{credential}` is not KEY/DATE/REGION/SERVICE/aws4_request"
        )));
    };
    let signed_headers: Vec<String> = signed
        .ok_or_else(|| missing("SignedHeaders"))?
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Malformed(
            "SignedHeaders must include host".to_owned(),
        ));
    }
    Ok(Signature {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.ok_or_else(|| missing("Signature"))?,
        amz_date,
        presigned,
    })
}

fn canonical_request(
    request: &Request<'_>,
    signed_headers: &[String],
    presigned: bool,
) -> Result<String, AuthError> {
    let mut query: Vec<(String, String)> = query_pairs(request.query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (encode(&k, true), encode(&v, true)))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(AuthError::Malformed(format!(
                "signed header `{name}` is not in the request"
            )));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{}\n{}\n{headers}\n{}\n{}",
        request.method,
        canonical_path(request.path),
        query.join("&"),
        signed_headers.join(";"),
        hex(&Sha256::digest(request.body)),
    ))
}

/// The path with `.` and `..` segments resolved and empty segments dropped,
/// each segment decoded and encoded again.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(encode(&decode(s), true)),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Percent-encodes all but AWS's unreserved characters (`A-Za-z0-9-._~`),
/// upper-case hex; `/` too when `slash`.
fn encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (!slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes `text` (a `%` not followed by two hex digits stays as
/// it is), reading bytes, so that no escape can cut a character in two.
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|h| (*h as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|l| (*l as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                // Two hex digits make at most 0xFF.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    ebbflow_core::push_hex(&mut out, bytes);
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `20150830T123600Z` as seconds since the Unix epoch.
fn parse_amz_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + hh * 3_600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_read_as_unix_seconds() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("20150830 123600Z"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
    }

    #[test]
    fn paths_are_normalized_and_encoded_once() {
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("//example//"), "/example/");
        assert_eq!(canonical_path("/example/.."), "/");
        assert_eq!(canonical_path("/example space/"), "/example%20space/");
        assert_eq!(canonical_path("/example%20space/"), "/example%20space/");
        assert_eq!(
            canonical_path("/000000000000/orders"),
            "/000000000000/orders"
        );
    }

    #[test]
    fn an_escape_cut_inside_a_character_decodes_without_panicking() {
        // `%` then the first byte of `é`: the old slicing landed inside it.
        assert_eq!(decode("%\u{e9}x"), "%\u{e9}x");
        assert_eq!(decode("%1\u{e9}x"), "%1\u{e9}x");
        assert_eq!(decode("a%4"), "a%4");
        assert_eq!(decode("%41%zz%"), "A%zz%");
        assert_eq!(decode("%C3%A9"), "\u{e9}");
    }

    #[test]
    fn a_request_far_from_now_is_expired() {
        let t = 1_000_000;
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert!(check_time(t, None, at(t + 899), "x").is_ok());
        assert!(check_time(t, None, at(t + 901), "x").is_err());
        assert!(check_time(t, None, at(t - 901), "x").is_err());
        assert!(check_time(t, Some(3600), at(t + 3000), "x").is_ok());
        assert!(check_time(t, Some(3600), at(t + 3700), "x").is_err());
    }
}
